"""Packed forward passes: several texts share one row of the transformer, and no row is padding.

A padded forward batch computes every layer for ``texts x longest`` token positions. Short texts of mixed
lengths waste much of that: the server's micro-batches hold the ~100 texts in flight, not the whole corpus
a bare ``encode`` sorts, so their forward batches span a wide range of lengths. Packing places the texts
end to end in rows of ``width`` tokens (best fit, longest first), gives each token the position it has when
its text is encoded alone, and masks attention so that a token sees only its own text's tokens (a
block-diagonal additive mask; the unused tail of a row attends only to itself, so it stays finite and
nobody reads it). The linear layers, most of the cost, then run on real tokens only; attention runs on
``width``-long rows, a few percent more than each text's own square.

Measured here (bench/packing.py: all-MiniLM-L6-v2, calls of 84 texts of 4-16 words, 2 threads): packed
1.19x one bare ``encode`` of all the texts at once, padded forward batches of 32 sorted by token count 0.93x;
one thread, calls of 42: 1.12x against 0.82x. Rows 64 wide did as well (1.23x), 128 less (1.13x), 256 no
better than the bare encode (0.99x): attention grows with the square of the width.

Not every model can run this way, and the server never assumes it can: ``PackedTransformer.of`` declines a
first module it does not recognise, and the embedder admits packing only when packed batches give what
the model's own ``encode`` gives (max |diff| <= 1e-6, measured at load), as it does for its padded batches.

Exports use the same layout: ``convert --to onnx|openvino`` also writes a graph of the model's forward that
takes packed rows (``inputs`` below: ids, positions, token types, the 4D mask), and the export's runtime
(export_runtime.py) runs its forward batches through it; a lone request then meets a handful of input
shapes (a few rows of 32: texts of up to 16 tokens share a row, longer ones take one each) instead of one
per text length, each new shape costing OpenVINO ~0.7 ms. The export keeps the packed graph only where it
gives what its padded graph gives, and the admission then measures the packed graph, which is what runs.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

MIN_WIDTH = 32
"""Row width in tokens when every text is shorter (a row is never narrower than the longest text)."""

_TEXT_KEYS = frozenset({"input_ids", "attention_mask", "token_type_ids"})
"""Tensor features a packed text forward knows how to lay out; any other tensor feature (images, audio,
a model's own extra inputs) and the batch is not packed."""


@dataclass(frozen=True)
class Layout:
    """Where each text of a batch sits in the packed rows."""

    width: int
    """Tokens per row."""
    row: tuple[int, ...]
    """Per text (in input order): the row it is placed in."""
    offset: tuple[int, ...]
    """Per text: the position of its first token in that row."""
    rows: int
    """Number of rows."""


def layout(lengths: Sequence[int], width: int) -> Layout:
    """Texts of ``lengths`` tokens placed in rows of ``width`` (>= the longest): best fit, longest first.

    Best fit keeps rows full with one pass over free-space buckets (a row's free space is an integer below
    ``width``), so placing n texts costs O(n x width) at worst, not O(n x rows)."""
    if lengths and max(lengths) > width:
        raise ValueError(f"a text of {max(lengths)} tokens does not fit in rows of {width}")
    row = [0] * len(lengths)
    offset = [0] * len(lengths)
    free_rows: dict[int, list[int]] = {}  # free space -> rows that have exactly that much left
    used: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        need = lengths[i]
        # A text of no tokens (a tokenizer that adds none, an empty string) takes no room: any row holds it.
        fit = next((space for space in range(need, width + 1) if free_rows.get(space)), None)
        if fit is None:
            r = len(used)
            used.append(0)
        else:
            r = free_rows[fit].pop()
        row[i], offset[i] = r, used[r]
        used[r] += need
        free_rows.setdefault(width - used[r], []).append(r)
    return Layout(width, tuple(row), tuple(offset), len(used))


def _windowed(config: Any) -> bool:
    """Whether some attention layer of the model sees only a window of its text (ModernBERT's local layers,
    sliding-window attention). Such a model builds the window into the mask it makes itself; given a 4D mask,
    it uses that one as it is (transformers 5), so packed rows would let those layers see the whole text."""
    if config is None:
        return False
    layer_types = getattr(config, "layer_types", None) or ()
    if any("sliding" in str(kind) or "local" in str(kind) for kind in layer_types):
        return True
    return any(getattr(config, name, None) for name in ("sliding_window", "local_attention", "attention_window"))


class PackedTransformer:
    """The first module of a SentenceTransformer (a Hugging Face encoder) run on packed rows."""

    def __init__(self, model: Any, output_name: str) -> None:
        self._model = model
        self._output_name = output_name
        # Positions as the model numbers a text of its own: 0.. for BERT-style embeddings; padding_idx + 1..
        # for RoBERTa-style ones (which derive them from input_ids when given none).
        embeddings = getattr(model, "embeddings", None)
        padding_idx = getattr(embeddings, "padding_idx", None)
        self._first_position = padding_idx + 1 if isinstance(padding_idx, int) else 0
        self._takes_token_types = "token_type_ids" in inspect.signature(model.forward).parameters
        self._dtype = next(model.parameters()).dtype
        """The dtype of the additive mask (the model's: transformers adds it to scores of that dtype)."""

    @classmethod
    def of(cls, st: Any) -> "PackedTransformer | None":
        """The packed form of ``st``'s first module, or None where it is not a text encoder this can lay out:
        not sentence-transformers' Transformer module, its forward replaced (an export's runtime), a model method
        other than ``forward`` returning ``last_hidden_state``, no ``position_ids`` argument, or every layer's
        states asked for."""
        modules = list(st)
        if len(modules) < 2 or type(modules[0]).__name__ != "Transformer":
            return None
        first = modules[0]
        if "forward" in vars(first):
            # Its forward was replaced on the instance (an exported backend runs its graph there): packing calls
            # the module's model directly, which would bypass whatever now answers in its place.
            return None
        model = getattr(first, "auto_model", None) or getattr(first, "model", None)
        if model is None or not callable(getattr(model, "forward", None)):
            return None
        modalities = getattr(first, "modality_config", None)
        if modalities is not None:  # sentence-transformers >= 6: how the module calls its model, per modality
            text = modalities.get("text") if isinstance(modalities, Mapping) else None
            if not isinstance(text, Mapping) or text.get("method") != "forward" or \
                    text.get("method_output_name") not in ("last_hidden_state", ("last_hidden_state",)):
                return None
        config = getattr(model, "config", None)
        if getattr(config, "output_hidden_states", False) or _windowed(config):
            return None
        try:
            parameters = inspect.signature(model.forward).parameters
        except (TypeError, ValueError):
            return None
        if "position_ids" not in parameters or "attention_mask" not in parameters:
            return None
        return cls(model, getattr(first, "module_output_name", None) or "token_embeddings")

    @property
    def model(self) -> Any:
        """The Hugging Face model whose forward runs the rows (what an export traces)."""
        return self._model

    def input_names(self) -> tuple[str, ...]:
        """The model's arguments ``inputs`` fills, in a fixed order (a packed graph's inputs)."""
        return ("input_ids", *(("token_type_ids",) if self._takes_token_types else ()), "position_ids",
                "attention_mask")

    @staticmethod
    def packable(features: Mapping[str, Any]) -> bool:
        """Whether a batch's features are text only (ids, mask, token types), as this lays them out."""
        import torch

        if "input_ids" not in features or "attention_mask" not in features:
            return False
        return all(key in _TEXT_KEYS for key, value in features.items() if isinstance(value, torch.Tensor))

    def rows_for(self, features: Mapping[str, Any], step: int = 1) -> Layout:
        """How the texts of ``features`` are laid out: rows of MIN_WIDTH, or the longest text's length rounded up
        to a multiple of ``step`` (an export's sequence bucket)."""
        lengths = [int(n) for n in features["attention_mask"].sum(dim=1).tolist()]
        return layout(lengths, max(MIN_WIDTH, -(-max(lengths, default=1) // step) * step))

    def _arrays(self, features: Mapping[str, Any], placed: Layout) -> tuple[dict[str, Any], Any, Any]:
        """The packed rows of ``placed`` as numpy arrays (ids, positions, token types where the model takes them),
        which pairs of slots may not attend to each other (rows x 1 x width x width, bool), and where each real
        token of ``features`` went in the flattened rows (in the order a boolean mask selects them). numpy, not
        torch: a lone request's rows are small, and ~25 torch calls cost ~0.1 ms more in dispatch alone."""
        import numpy as np

        mask = features["attention_mask"].numpy().astype(bool)
        width, total = placed.width, placed.rows * placed.width
        # The k-th real token of text i goes to row[i], offset[i] + k: wherever the tokenizer put the padding.
        within = np.cumsum(mask, axis=1) - 1
        start = np.asarray(placed.row, dtype=np.int64) * width + np.asarray(placed.offset, dtype=np.int64)
        destination = (start[:, None] + within)[mask]
        arrays: dict[str, Any] = {}
        input_ids = np.zeros(total, dtype=np.int64)
        input_ids[destination] = features["input_ids"].numpy()[mask]
        arrays["input_ids"] = input_ids.reshape(placed.rows, width)
        if self._takes_token_types:  # zeros where the tokenizer gives none, as the model takes a missing argument
            token_types = np.zeros(total, dtype=np.int64)
            if "token_type_ids" in features:
                token_types[destination] = features["token_type_ids"].numpy()[mask]
            arrays["token_type_ids"] = token_types.reshape(placed.rows, width)
        positions = np.zeros(total, dtype=np.int64)
        positions[destination] = within[mask] + self._first_position
        arrays["position_ids"] = positions.reshape(placed.rows, width)
        # Each text's tokens share a segment id (the text's index: the row a boolean mask's element comes from);
        # each unused slot is a segment of its own (it attends to itself).
        segment = -1 - np.arange(total)
        segment[destination] = np.nonzero(mask)[0]
        segment = segment.reshape(placed.rows, width)
        apart = segment[:, None, :, None] != segment[:, None, None, :]
        return arrays, apart, destination

    def inputs(self, features: Mapping[str, Any], placed: Layout) -> tuple[dict[str, Any], Any]:
        """The model's keyword arguments for the packed rows of ``placed`` (ids, positions, token types, the 4D
        additive mask in the model's dtype), and where each real token of ``features`` went in the flattened
        rows (in the order ``features["attention_mask"].bool()`` selects them)."""
        import torch

        arrays, apart, destination = self._arrays(features, placed)
        kwargs: dict[str, Any] = {name: torch.from_numpy(value) for name, value in arrays.items()}
        additive = torch.zeros(apart.shape, dtype=self._dtype)
        kwargs["attention_mask"] = additive.masked_fill_(torch.from_numpy(apart), torch.finfo(self._dtype).min)
        return kwargs, torch.from_numpy(destination)

    def feeds(self, features: Mapping[str, Any], placed: Layout) -> tuple[dict[str, Any], Any]:
        """``inputs`` as numpy arrays (a packed graph's feeds: ids, positions and token types int64, the mask in the
        dtype the graph was traced with), and the destination of each real token."""
        import numpy as np
        import torch

        arrays, apart, destination = self._arrays(features, placed)
        if self._dtype == torch.float32:
            arrays["attention_mask"] = np.where(apart, np.finfo(np.float32).min, np.float32(0)).astype(np.float32)
        else:  # float16 and others: numpy may not have the type (bfloat16), torch builds it
            additive = torch.zeros(apart.shape, dtype=self._dtype).masked_fill_(torch.from_numpy(apart),
                                                                                 torch.finfo(self._dtype).min)
            arrays["attention_mask"] = additive.numpy()
        return arrays, torch.from_numpy(destination)

    @staticmethod
    def unpack(features: Mapping[str, Any], hidden: Any, destination: Any) -> Any:
        """The packed rows' token states ``hidden`` (rows x width x size) put back one row per text, shaped and
        padded as a padded forward's (padding positions zero: pooling masks them out)."""
        hidden = hidden.reshape(-1, hidden.shape[-1])
        mask = features["attention_mask"].bool()
        tokens = hidden.new_zeros(*mask.shape, hidden.shape[-1])
        tokens[mask] = hidden[destination]
        return tokens

    def __call__(self, features: Mapping[str, Any], placed: Layout) -> dict[str, Any]:
        """``features`` with the first module's output (token embeddings, shaped and padded as the padded
        forward's: one row per text), computed on the packed rows of ``placed``."""
        kwargs, destination = self.inputs(features, placed)
        hidden = self._model(**kwargs, return_dict=True).last_hidden_state
        return {**features, self._output_name: self.unpack(features, hidden, destination)}
