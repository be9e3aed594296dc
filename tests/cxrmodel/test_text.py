"""Tests for report tokenisation, normalisation, vocabulary and encoding (cxrmodel.text)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cxrmodel.text import (
    MAX_TOKENS,
    NEGATIONS,
    OOV_ID,
    PADDING_ID,
    REDACTED_TOKEN,
    EncodedReport,
    Token,
    Vocabulary,
    encode_report,
    encode_reports,
    model_tokens,
    section_headers,
    stop_words,
    tokenize_report,
)

REPORTS = [
    "",
    "   \n\t  ",
    "No pneumothorax or pleural effusion.",
    "The heart is normal in size.  The lungs are clear.\nNo acute disease.",
    "Degenerative changes at T12-L1; 5 mm nodule at T12.",
    "Normal chest x-XXXX. There are no XXXX of a pleural effusion.",
    "XXXX-year-old male. Comparison: XXXX, XXXX.",
    "Naïve patient's \"well-defined\" opacity -- unchanged (stable)...",
    "Nai\u0308ve decomposed accent, and an em\u2014dash; résumé café",
    "'quoted' words - dangling- -hyphens and 2nd/3rd ribs",
    "Line one\r\nLine two\n\n\nLine three\u00a0with nbsp",
    "1. Mild cardiomegaly. 2. Right basilar opacity, not excluded without CT.",
]


def _words(report: str) -> list[str]:
    return [token.text for token in tokenize_report(report)]


def _kept(report: str) -> list[str]:
    return [token.normalized for token in model_tokens(tokenize_report(report))]


@pytest.mark.parametrize("report", REPORTS)
def test_token_offsets_point_at_the_written_word_in_order(report: str) -> None:
    tokens = tokenize_report(report)
    previous_end = 0
    for token in tokens:
        assert report[token.start : token.end] == token.text
        assert token.start >= previous_end
        assert token.end > token.start
        assert token.kept == (token.normalized is not None)
        previous_end = token.end


@pytest.mark.parametrize("report", REPORTS)
def test_text_outside_tokens_has_no_letters_or_digits(report: str) -> None:
    covered = [False] * len(report)
    for token in tokenize_report(report):
        covered[token.start : token.end] = [True] * (token.end - token.start)
    leftover = "".join(character for character, is_covered in zip(report, covered, strict=False) if not is_covered)
    assert not any(character.isalnum() for character in leftover)


def test_empty_report_has_no_tokens() -> None:
    assert tokenize_report("") == []
    assert tokenize_report(" .,;\n") == []


def test_words_punctuation_and_hyphens() -> None:
    assert _words("Lungs are clear.  No effusion!") == ["Lungs", "are", "clear", "No", "effusion"]
    assert _words("'quoted' -dash- x-ray patient's") == ["quoted", "dash", "x-ray", "patient's"]
    assert _words("opacity--unchanged") == ["opacity", "unchanged"]


def test_negations_are_kept() -> None:
    assert _kept("No pneumothorax or pleural effusion.") == ["no", "pneumothorax", "pleural", "effusion"]
    assert _kept("Heart is not enlarged, without effusion.") == ["heart", "not", "enlarged", "without", "effusion"]
    assert _kept("Never smoker. Nodule absent. Negative for TB. None seen.") == [
        "never",
        "smoker",
        "nodule",
        "absent",
        "negative",
        "tb",
        "none",
        "seen",
    ]
    assert _kept("Neither nor cannot") == ["neither", "nor", "cannot"]
    assert NEGATIONS.isdisjoint(stop_words())


def test_stop_words_are_dropped_but_still_tokens() -> None:
    tokens = tokenize_report("The heart is of normal size.")
    assert [token.text for token in tokens] == ["The", "heart", "is", "of", "normal", "size"]
    assert [token.kept for token in tokens] == [False, True, False, False, True, True]
    assert [token.normalized for token in tokens] == [None, "heart", None, None, "normal", "size"]
    assert {"the", "is", "of", "and", "with"} <= stop_words()


def test_single_letters_and_digits_are_dropped() -> None:
    tokens = tokenize_report("5 mm nodule at T12, level C 3.")
    by_text = {token.text: token for token in tokens}
    assert not by_text["5"].kept
    assert not by_text["T12"].kept  # "t" after digits are stripped: too short
    assert not by_text["C"].kept
    assert not by_text["3"].kept
    assert by_text["mm"].normalized == "mm"
    assert by_text["nodule"].kept


def test_lower_case_digits_stripped_and_hyphen_joined() -> None:
    assert _kept("PNEUMOTHORAX Chest X-ray well-defined 2nd patient's") == [
        "pneumothorax",
        "chest",
        "xray",
        "welldefined",
        "nd",
        "patients",
    ]


def test_unicode_letters_survive() -> None:
    assert _kept("Naïve café") == ["naïve", "café"]
    # Decomposed and composed accents are the same vocabulary word; offsets still index the original text.
    report = "Nai\u0308ve"
    (token,) = tokenize_report(report)
    assert token.text == report and token.normalized == "naïve"


def test_redaction_marker_is_one_kept_token() -> None:
    report = "Normal chest x-XXXX. There are no XXXX of effusion. XXXX-year-old. ComparisXXXX."
    tokens = tokenize_report(report)
    redacted = [token for token in tokens if token.normalized == REDACTED_TOKEN]
    assert [token.text for token in redacted] == ["x-XXXX", "XXXX", "XXXX-year-old", "ComparisXXXX"]
    assert all(token.kept for token in redacted)
    assert _kept("There are no XXXX of effusion.") == ["no", "xxxx", "effusion"]


def test_model_tokens_are_the_kept_tokens_in_order() -> None:
    tokens = tokenize_report("The lungs are clear and there is no effusion.")
    kept = model_tokens(tokens)
    assert [token.text for token in kept] == ["lungs", "clear", "no", "effusion"]
    assert all(isinstance(token, Token) for token in kept)


def _vocabulary() -> Vocabulary:
    return Vocabulary.build(
        [
            "No pneumothorax. No effusion.",
            "Small effusion, no pneumothorax.",
            "Cardiomegaly with effusion.",
        ]
    )


def test_vocabulary_ids_by_frequency_then_alphabetical() -> None:
    vocabulary = _vocabulary()
    # counts: effusion 3, no 3, pneumothorax 2, cardiomegaly 1, small 1
    assert vocabulary.words == ["<pad>", "<oov>", "effusion", "no", "pneumothorax", "cardiomegaly", "small"]
    assert len(vocabulary) == 7
    assert vocabulary.id_of("effusion") == 2
    assert vocabulary.id_of("small") == 6
    assert vocabulary.id_of("atelectasis") == OOV_ID
    assert vocabulary.word_of(0) == "<pad>"
    assert "no" in vocabulary and "the" not in vocabulary


def test_vocabulary_limits() -> None:
    reports = ["No pneumothorax. No effusion.", "Small effusion, no pneumothorax.", "Cardiomegaly with effusion."]
    assert Vocabulary.build(reports, max_words=2).words == ["<pad>", "<oov>", "effusion", "no"]
    assert Vocabulary.build(reports, min_count=2).words == ["<pad>", "<oov>", "effusion", "no", "pneumothorax"]
    assert len(Vocabulary.build([])) == 2


def test_vocabulary_save_load_round_trip(tmp_path) -> None:
    vocabulary = _vocabulary()
    path = tmp_path / "vocabulary.json"
    vocabulary.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == "cxrmodel-vocabulary"
    assert data["version"] == 1
    assert data["padding_id"] == 0 and data["oov_id"] == 1
    loaded = Vocabulary.load(path)
    assert loaded == vocabulary
    for word in vocabulary.words + ["unseen"]:
        assert loaded.id_of(word) == vocabulary.id_of(word)
    report = "Small effusion and a new nodule, no pneumothorax."
    assert np.array_equal(encode_report(report, loaded).token_ids, encode_report(report, vocabulary).token_ids)


def _vocabulary_json(**changes: object) -> str:
    data: dict[str, object] = {
        "format": "cxrmodel-vocabulary",
        "version": 1,
        "padding_id": 0,
        "oov_id": 1,
        "words": ["<pad>", "<oov>", "heart"],
    }
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json {", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (_vocabulary_json(format="other"), "format"),
        (_vocabulary_json(version=7), "version"),
        (_vocabulary_json(padding_id=1, oov_id=0), "padding_id"),
        (_vocabulary_json(words="abc"), "'words' must be a list"),
        (_vocabulary_json(words=["heart"]), "must start with"),
        (_vocabulary_json(words=["<pad>", "<oov>", "heart", "heart"]), "twice"),
        (_vocabulary_json(words=["<pad>", "<oov>", 3]), "non-empty strings"),
        (_vocabulary_json(words=["<pad>", "<oov>", "<pad>"]), "reserved"),
    ],
)
def test_malformed_vocabulary_file_raises_value_error(tmp_path, content: str, message: str) -> None:
    path = tmp_path / "vocabulary.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as error:
        Vocabulary.load(path)
    assert str(path) in str(error.value)


def test_encode_pads_with_zero_and_maps_slots_to_words() -> None:
    vocabulary = _vocabulary()
    report = "The heart is normal. No effusion;  small pneumothorax."
    encoded = encode_report(report, vocabulary)
    assert isinstance(encoded, EncodedReport)
    assert encoded.token_ids.shape == (MAX_TOKENS,) and encoded.token_ids.dtype == np.int32
    assert not encoded.truncated
    written = ["The", "heart", "is", "normal", "No", "effusion", "small", "pneumothorax"]
    assert [token.text for token in encoded.tokens] == written
    assert encoded.positions == [1, 3, 4, 5, 6, 7]
    words_in_slots = [encoded.tokens[index].text for index in encoded.positions]
    assert words_in_slots == ["heart", "normal", "No", "effusion", "small", "pneumothorax"]
    expected = [OOV_ID, OOV_ID] + [vocabulary.id_of(word) for word in ("no", "effusion", "small", "pneumothorax")]
    assert encoded.token_ids[:6].tolist() == expected
    assert (encoded.token_ids[6:] == PADDING_ID).all()
    # Each slot's word can be highlighted in the report as written.
    for slot, index in enumerate(encoded.positions):
        token = encoded.tokens[index]
        assert report[token.start : token.end] == words_in_slots[slot]


def test_encode_truncates_at_the_end() -> None:
    vocabulary = Vocabulary.build(["effusion"])
    report = " ".join(f"effusion{'' if i % 2 else ' the'}" for i in range(MAX_TOKENS + 5)) + " pneumothorax"
    encoded = encode_report(report, vocabulary)
    assert encoded.truncated
    assert encoded.token_ids.shape == (MAX_TOKENS,)
    assert (encoded.token_ids == vocabulary.id_of("effusion")).all()
    assert len(encoded.positions) == MAX_TOKENS == encoded.used_slots
    assert all(encoded.tokens[index].text == "effusion" for index in encoded.positions)
    assert encoded.tokens[-1].text == "pneumothorax"  # still in tokens, just not seen by the model
    assert encoded.positions[-1] < len(encoded.tokens) - 1


def test_encode_short_max_tokens_and_exact_fit() -> None:
    vocabulary = _vocabulary()
    encoded = encode_report("no effusion", vocabulary, max_tokens=2)
    assert encoded.token_ids.tolist() == [vocabulary.id_of("no"), vocabulary.id_of("effusion")]
    assert not encoded.truncated
    assert encode_report("no effusion small", vocabulary, max_tokens=2).truncated
    with pytest.raises(ValueError):
        encode_report("no", vocabulary, max_tokens=0)


def test_encode_empty_report() -> None:
    encoded = encode_report("", _vocabulary())
    assert encoded.tokens == [] and encoded.positions == [] and not encoded.truncated
    assert (encoded.token_ids == PADDING_ID).all()


def test_slot_values_map_back_to_words() -> None:
    vocabulary = _vocabulary()
    encoded = encode_report("The effusion is small.", vocabulary, max_tokens=4)
    per_token = encoded.slot_values_to_tokens([0.5, -0.25, 9.0, 9.0])  # padding slots ignored
    assert per_token.tolist() == [0.0, 0.5, 0.0, -0.25]
    with pytest.raises(ValueError):
        encoded.slot_values_to_tokens([1.0])


def test_encode_reports_batch() -> None:
    vocabulary = _vocabulary()
    batch = encode_reports(["no effusion", "small pneumothorax"], vocabulary, max_tokens=5)
    assert batch.shape == (2, 5) and batch.dtype == np.int32
    assert batch[1, :2].tolist() == [vocabulary.id_of("small"), vocabulary.id_of("pneumothorax")]
    assert encode_reports([], vocabulary).shape == (0, MAX_TOKENS)


# --- Section headers (issue #17): dropped like stop words, offsets exact -------------------------------------------

FINDINGS = "Heart size is normal. No acute findings. Comparison with prior films shows no change."
IMPRESSION = "No acute cardiopulmonary disease; history of smoking."
PLAIN_REPORT = f"{FINDINGS}\n\n{IMPRESSION}"
# A vocabulary that knows every header word, so a header fed to the model would show as a real id, not as OOV.
HEADER_VOCABULARY = Vocabulary.build(
    [PLAIN_REPORT, "impression technique examination exam indication clinical reason conclusion finding findings"]
)


@pytest.mark.parametrize(
    "headed, plain",
    [
        (f"FINDINGS: {FINDINGS}\n\nIMPRESSION: {IMPRESSION}\n", PLAIN_REPORT),
        (f"Findings:\n{FINDINGS}\n\nImpression:\n{IMPRESSION}", PLAIN_REPORT),
        (f"FINDINGS\n{FINDINGS}\n\nIMPRESSION\n{IMPRESSION}", PLAIN_REPORT),
        (f"  Findings :  {FINDINGS}\r\n\r\n\tIMPRESSION:\t{IMPRESSION}", PLAIN_REPORT),
        (f"EXAM: CHEST 2V\nCLINICAL HISTORY: cough\nTECHNIQUE: PA and lateral\nCOMPARISON: None\n"
         f"INDICATION: cough\nFINDINGS: {FINDINGS}\nIMPRESSION: {IMPRESSION}",
         f"CHEST 2V\ncough\nPA and lateral\nNone\ncough\n{PLAIN_REPORT}"),
        (f"FINDINGS: {FINDINGS} IMPRESSION: {IMPRESSION}", PLAIN_REPORT),  # pasted as one paragraph
        (f"Findings: {FINDINGS} Impression: {IMPRESSION}", PLAIN_REPORT),  # one paragraph, headers start sentences
        (f"findings: {FINDINGS}\nREASON FOR EXAM: cough\nConclusion: {IMPRESSION}",
         f"{FINDINGS}\ncough\n{IMPRESSION}"),
    ],
    ids=["caps-colon", "title-colon-own-line", "alone-on-line", "spaces-crlf-tabs", "full-header-block",
         "one-paragraph-caps", "one-paragraph-title", "lower-and-multiword"],
)
def test_a_report_with_section_headers_encodes_like_the_same_report_without(headed: str, plain: str) -> None:
    with_headers = encode_report(headed, HEADER_VOCABULARY)
    without = encode_report(plain, HEADER_VOCABULARY)
    np.testing.assert_array_equal(with_headers.token_ids, without.token_ids)
    assert [t.normalized for t in model_tokens(with_headers.tokens)] == [
        t.normalized for t in model_tokens(without.tokens)]
    assert with_headers.used_slots > 10  # the report's own words are all there


def test_header_words_stay_tokens_unseen_with_exact_offsets() -> None:
    report = f"FINDINGS: {FINDINGS}\n\nCLINICAL  HISTORY: smoker\nIMPRESSION\n{IMPRESSION}"
    tokens = tokenize_report(report)
    headers = [token for token in tokens if token.text in ("FINDINGS", "CLINICAL", "HISTORY", "IMPRESSION")]
    assert [token.text for token in headers] == ["FINDINGS", "CLINICAL", "HISTORY", "IMPRESSION"]
    for token in headers:
        assert report[token.start : token.end] == token.text
        assert not token.kept and token.normalized is None
    assert [(start, end) for start, end in section_headers(report)] == [
        (0, 8), (report.index("CLINICAL"), report.index(":", report.index("CLINICAL"))),
        (report.index("IMPRESSION"), report.index("IMPRESSION") + len("IMPRESSION"))]
    encoded = encode_report(report, HEADER_VOCABULARY)
    seen = {encoded.tokens[index].text for index in encoded.positions}
    assert seen.isdisjoint({"FINDINGS", "CLINICAL", "HISTORY", "IMPRESSION"})
    assert {"findings", "history", "smoker"} <= {encoded.tokens[i].normalized for i in encoded.positions}


@pytest.mark.parametrize(
    "report, word",
    [
        ("There are no acute findings.", "findings"),
        ("No acute findings: stable.", "findings"),  # a colon, but after a word that does not end a sentence
        ("Findings of COPD with no acute changes.", "findings"),  # IU X-ray, line start, no colon: a sentence
        ("Heart normal.\n\nFindings consistent with edema.", "findings"),
        ("Comparison XXXX, XXXX. Clear lungs.", "comparison"),  # IU X-ray's findings often start so
        ("Chest  Comparison: There is a mass.", "comparison"),  # IU X-ray CXR206: mixed case, mid-line
        ("History of smoking. No effusion.", "history"),
        ("Findings.", "findings"),  # not a colon, not alone on its line
        ("The technique was portable", "technique"),
        ("Impressions differ", "impressions"),
    ],
)
def test_header_words_inside_sentences_are_words(report: str, word: str) -> None:
    assert section_headers(report) == []
    assert word in _kept(report)


def test_headers_never_split_a_hyphenated_word() -> None:
    report = "x-FINDINGS: FINDINGS-based"
    assert _kept(report) == ["xfindings", "findingsbased"]


def test_vocabulary_and_model_tokens_skip_headers() -> None:
    vocabulary = Vocabulary.build(["FINDINGS: clear\nIMPRESSION: clear", "Findings: normal"])
    assert vocabulary.words == ["<pad>", "<oov>", "clear", "normal"]
    assert _kept("FINDINGS: Findings of COPD.") == ["findings", "copd"]
