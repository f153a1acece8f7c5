"""recommender/concepts.toml: the shipped file loads, every entry is well-formed, and a bad entry is named."""

import pytest

from recommender.offline import CONCEPTS_FILE, REQUEST_TRIGGERS, TRIGGERS, ConceptsError, concepts_read

SHIPPED = CONCEPTS_FILE.read_text(encoding="utf-8")


def test_the_shipped_file_loads():
    tables = concepts_read(SHIPPED)

    assert len(tables.concepts) >= 70
    assert tables.concepts["rain"][0] == "rain"
    assert "golden-hour" in tables.concepts["golden"][1].split()
    assert tables.implied["product"]["studio"] == 0.8
    assert tables.model_strengths["soul"] == ("portrait", "fashion")
    assert tables.opposite_changes["dark"] == "bright"


def test_every_concept_is_reached_by_its_own_words():
    tables = concepts_read(SHIPPED)
    reached = {concept for concepts in TRIGGERS.values() for concept in concepts}
    reached_in_requests = {concept for concepts in REQUEST_TRIGGERS.values() for concept in concepts}

    assert set(tables.concepts) == reached
    assert reached <= reached_in_requests


def _edited(old, new):
    assert SHIPPED.count(old) == 1, old
    return SHIPPED.replace(old, new)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('reason = "rain"\n', "", "[concepts.rain] lacks 'reason'"),
        ('reason = "rain"\n', 'reason = ""\n', "[concepts.rain] reason must be a non-empty string"),
        ("rain rainy raining", "Rain! rainy raining", "[concepts.rain] words: 'Rain!' is not a lower-case word"),
        ("rain rainy raining", "rain rainy raining-cats-and-dogs", "'raining-cats-and-dogs' is not a lower-case word"),
        ('request_only = "storm stormy"', 'request_only = ["storm"]', "[concepts.rain] request_only must be"),
        ('reason = "rain"\n', 'reason = "rain"\nword = "drops"\n', "[concepts.rain] has an unknown key 'word'"),
        ("[concepts.rain]", "[concepts.Rain]", "[concepts.Rain]: a concept's name must be lower-case"),
        ("product = { studio = 0.8,", "product = { studioo = 0.8,", "[implied] product names 'studioo'"),
        ("product = { studio = 0.8,", "product = { studio = -1,", "[implied] product studio must be a number"),
        ('soul = "portrait fashion"', 'soul = "portrait glamour"', "[model_strengths] soul names 'glamour'"),
        ('imposing = "sport', 'imposing = "sports', "[matching] imposing names 'sports'"),
        ('dark = "bright"', 'dark = "brighter"', "[opposite_changes] dark names 'brighter'"),
        ('dark = ["darker",', 'dark = ["Darker!",', "[changes] dark: 'Darker!' is not a lower-case word"),
        (
            "emphasis = { painting = 1.5,",
            "emphasis = { painting = true,",
            "[reading] emphasis painting must be a number",
        ),
        ('now_starters = "now then"\n', "", "[words] lacks 'now_starters'"),
        ("[implied]\n", "[implied\n", "is not valid TOML"),
        (
            'photo = "{subject}, captured as a finished, high-end photograph."',
            'photo = "Captured as a finished, high-end photograph."',
            "[prompt.openings] photo must hold {subject}",
        ),
        ('water = "beach" }', 'water = "ocean" }', "[prompt] scene_aliases water names 'ocean'"),
        ('lights = "night golden', 'lights = "night sunlit golden', "[prompt] lights names 'sunlit'"),
        ('lights = "night golden', 'lights = "night fire golden', "[prompt.light_sentences] lacks 'fire'"),
        ('moods = "epic', 'moods = "epic drama', "[prompt.mood_sentences] lacks 'drama'"),
    ],
)
def test_a_bad_entry_is_named_in_the_error(old, new, message):
    with pytest.raises(ConceptsError) as raised:
        concepts_read(_edited(old, new))

    assert message in str(raised.value)


def test_every_scene_light_mood_and_change_has_its_sentences():
    prompt = concepts_read(SHIPPED).prompt

    for scene in prompt["scenes"]:
        assert prompt["settings"][scene] and prompt["textures"][scene] and prompt["scene_actions"][scene]
        assert len(prompt["compositions"][scene]) >= 3
    assert set(prompt["lights"]) <= set(prompt["light_sentences"])
    assert set(prompt["moods"]) <= set(prompt["mood_sentences"])
    assert set(concepts_read(SHIPPED).changes) <= set(prompt["change_sentences"])


def test_an_added_concept_and_word_are_read():
    text = _edited(
        "[concepts.night]\n", '[concepts.kite]\nreason = "kites"\nwords = "kite paraglider"\n\n[concepts.night]\n'
    )

    tables = concepts_read(text)

    assert tables.concepts["kite"] == ("kites", "kite paraglider", "")
