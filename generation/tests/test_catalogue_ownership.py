"""What Higgsfield offers is owned in one place: generation owns the catalogue and never imports the
recommender; the recommender reads the catalogue and, through generation's selectors, the history it learns a
person's taste from, and never touches jobs."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What the recommender may read of generation: the catalogue and the selectors (reads), never the jobs' models,
# services, tasks or providers.
RECOMMENDER_MAY_IMPORT = {
    "generation.model_catalogue",
    "generation.model_schema",
    "generation.models",
    "generation.selectors",
}
JOB_NAMES = {"Generation", "CreditAccount", "CreditEntry"}


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [alias.name for alias in node.names]


def _sources(app: str):
    return [p for p in (ROOT / app).rglob("*.py") if "tests" not in p.parts and "migrations" not in p.parts]


def test_generation_never_imports_the_recommender():
    found = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in _sources("generation")
        for module, _ in _imports(path)
        if module == "recommender" or module.startswith("recommender.")
    ]
    assert found == []


def test_the_recommender_reads_the_catalogue_and_never_touches_jobs():
    found = []
    for path in _sources("recommender"):
        for module, names in _imports(path):
            if not module.startswith("generation"):
                continue
            if module not in RECOMMENDER_MAY_IMPORT or JOB_NAMES & set(names):
                found.append(f"{path.relative_to(ROOT)}: {module} {names}")
    assert found == []
