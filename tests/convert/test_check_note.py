"""check names the exact `stcompat convert` command where keeping the target's stack needs a conversion."""

from __future__ import annotations

from conftest import fixture_path, truth_stacks
from stcompat.checker import check

STACKS = truth_stacks()


def notes(release: str, variant: str, target: str) -> tuple[str, ...]:
    (result,) = check(fixture_path(release, variant), targets=[STACKS[target]], resolve=False)
    return result.fix_notes


def test_bpe_pairs_on_an_old_stack_name_the_conversion():
    # Moving tokenizers to 0.20 means moving transformers (4.40 caps tokenizers below 0.20): converting
    # keeps the stack.
    model = fixture_path("3.4.1", "roberta_plain")
    assert notes("3.4.1", "roberta_plain", "2.7.0")[-1:] == (
        f"or keep this stack and convert the model for it: stcompat convert {model} -o roberta_plain-st2.7.0 "
        '--target "sentence-transformers==2.7.0 transformers==4.40.2 tokenizers==0.19.1 huggingface-hub==0.23.0 '
        'torch==2.13.0"',)


def test_54_save_on_222_with_prompts_names_allow_loss():
    model = fixture_path("6.2.0", "bert_prompts")
    assert notes("6.2.0", "bert_prompts", "2.2.2")[-1] == (
        "or keep this stack and convert the model for it, losing what the degraded findings say: stcompat convert "
        f'{model} -o bert_prompts-st2.2.2 --target "sentence-transformers==2.2.2 transformers==4.30.2 '
        'tokenizers==0.13.3 huggingface-hub==0.16.4 torch==2.13.0" --allow-loss')


def test_no_note_where_no_conversion_can_help():
    assert not any("stcompat convert" in n for n in notes("6.2.0", "static", "2.2.2"))  # no StaticEmbedding
    assert not any("stcompat convert" in n for n in notes("6.2.0", "cross_encoder", "3.4.1"))
    assert not any("stcompat convert" in n for n in notes("6.2.0", "bert_plain", "6.2.0"))  # nothing to fix
