"""collectstatic writes our own script and stylesheet minified, and leaves everyone else's files alone."""

from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from higgs_project.static_storage import minified

SOURCE = Path(settings.BASE_DIR) / "static"


def test_collectstatic_minifies_our_script_and_stylesheet_and_keeps_what_they_say(tmp_path, settings):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "higgs_project.static_storage.MinifiedStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)
    for name in ("js/app.js", "css/app.css"):
        source = (SOURCE / name).read_text(encoding="utf-8")
        written = (tmp_path / name).read_text(encoding="utf-8")
        assert len(written) < 0.9 * len(source), name
        assert "/*" not in written and "\n  " not in written, name
    script = (tmp_path / "js/app.js").read_text(encoding="utf-8")
    assert 'addEventListener("keydown"' in script  # the code itself is all there
    stylesheet = (tmp_path / "css/app.css").read_text(encoding="utf-8")
    assert "prefers-color-scheme:dark" in stylesheet.replace(" ", "")
    # The hashed copy that pages link to is the minified one too.
    hashed = next((tmp_path / "js").glob("app.*.js"))
    assert hashed.read_text(encoding="utf-8") == script


def test_only_our_own_files_are_minified():
    assert minified("js/app.js", "var  a = 1; // note\n") == "var a=1;"
    assert minified("admin/js/core.js", "var  a = 1;") is None
    assert minified("js/htmx.min.js", "var  a = 1;") is None
    assert minified("css/app.css", "a {  color: red;  }") == "a{color:red}"
