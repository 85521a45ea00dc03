"""config.json of the Hugging Face model a Transformer module wraps."""

from __future__ import annotations

from typing import Any, Mapping

from ..findings import Finding
from .folder import MISSING, ModelFolder, ModelReadError, problem
from .manifest import TransformerInfo
from .values import HF_CONFIG, type_findings


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_or_none(value: Any) -> str | None:
    # A value of another type is reported (STC020); it names no version or dtype.
    return value if isinstance(value, str) else None


def read_transformer(folder: ModelFolder, module_path: str, sbert_config: Mapping[str, Any],
                     problems: list[Finding]) -> TransformerInfo | None:
    """The transformer's config.json in ``module_path``; None when there is none.

    ``sbert_config`` is the module's sentence_bert_config (legacy: it holds max_seq_length);
    modular saves keep the limit in tokenizer_config.json's model_max_length instead.
    """
    rel = f"{module_path}/config.json" if module_path else "config.json"
    try:
        config = folder.load_json(rel, problems=problems)
    except ModelReadError as exc:
        problems.append(exc.finding)
        return None
    if config is MISSING:
        return None
    if not isinstance(config, dict):
        problems.append(problem("STC010", f"{rel} is not a JSON object", rel))
        return None
    problems.extend(type_findings(config, HF_CONFIG, rel))
    auto_map = config.get("auto_map") if isinstance(config.get("auto_map"), dict) else {}
    if auto_map:
        problems.append(problem("STC016", f"{rel} auto_map loads code from the model folder: "
                                f"{', '.join(sorted(auto_map))}", rel, "auto_map"))
    architectures = config.get("architectures")
    max_seq_length = _int_or_none(sbert_config.get("max_seq_length"))
    if max_seq_length is None:
        tok_rel = f"{module_path}/tokenizer_config.json" if module_path else "tokenizer_config.json"
        try:
            tok_config = folder.load_json(tok_rel)
        except ModelReadError:
            tok_config = MISSING  # reported by the tokenizer reader
        if isinstance(tok_config, dict):
            max_seq_length = _int_or_none(tok_config.get("model_max_length"))
    do_lower_case = sbert_config.get("do_lower_case")
    # transformers 5 writes `dtype`, 4.x `torch_dtype`; 5 reads either (the first when both are there).
    dtype_key = next((k for k in ("dtype", "torch_dtype") if _str_or_none(config.get(k)) is not None), None)
    dtype = config.get(dtype_key) if dtype_key else None
    id2label = config.get("id2label")
    num_labels = _int_or_none(config.get("num_labels"))
    if num_labels is None and isinstance(id2label, dict):
        num_labels = len(id2label)
    st_section = config.get("sentence_transformers")
    activations = {
        "sentence_transformers.activation_fn": st_section.get("activation_fn") if isinstance(st_section, dict) else None,
        "sbert_ce_default_activation_function": config.get("sbert_ce_default_activation_function"),
    }
    return TransformerInfo(
        config_file=rel,
        model_type=config.get("model_type") if isinstance(config.get("model_type"), str) else None,
        architectures=tuple(str(a) for a in architectures) if isinstance(architectures, list) else (),
        transformers_version=_str_or_none(config.get("transformers_version")),
        dtype=_str_or_none(dtype),
        auto_map=auto_map,
        hidden_size=_int_or_none(config.get("hidden_size", config.get("d_model", config.get("dim")))),
        max_position_embeddings=_int_or_none(config.get("max_position_embeddings")),
        max_seq_length=max_seq_length,
        do_lower_case=do_lower_case if isinstance(do_lower_case, bool) else None,
        dtype_key=dtype_key,
        num_labels=num_labels,
        activations={key: value for key, value in activations.items() if isinstance(value, str) and value},
    )
