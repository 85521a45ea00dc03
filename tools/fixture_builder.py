"""In-environment half of ``tools/make_fixtures.py``.

This file is executed by the python of one isolated Sentence Transformers environment
(see ``stcompat.matrix.envs``), never imported by stcompat. It may therefore only use the
standard library and whatever that environment has installed (torch, transformers,
tokenizers, sentence_transformers), and it must work on every release from ST 2.2.2 and
transformers 4.30 up to the newest ones.

Sub-commands (arguments are one JSON object, results are printed as one JSON line
prefixed with ``RESULT_PREFIX`` so that library log noise on stdout cannot confuse the
caller):

* ``base``   - train tiny tokenizers and build the tiny BERT / RoBERTa base models.
* ``save``   - build each requested variant with this release and ``model.save()`` it
  (a SentenceTransformer, or a CrossEncoder / SparseEncoder for the variants in
  ``MODEL_CLASSES``).
* ``verify`` - load saved fixtures back with this release, with the class that saved
  them, and encode two sentences (a CrossEncoder scores two pairs).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import sys
import traceback

RESULT_PREFIX = "@@STCOMPAT_RESULT@@ "

# Big enough for a ~400 token WordPiece vocabulary and a ~600 token byte-level BPE.
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A sentence embedding maps text to a dense vector.",
    "Semantic search finds documents that mean the same thing as the query.",
    "Cosine similarity compares the angle between two vectors.",
    "Tokenizers split words into smaller pieces called subwords.",
    "Transformers use attention to mix information across tokens.",
    "Mean pooling averages the token embeddings of a sentence.",
    "Normalized embeddings have unit length, so dot product equals cosine.",
    "Prompts such as query and passage change what the model encodes.",
    "Matryoshka models can truncate their embeddings to fewer dimensions.",
    "Static embeddings look up one vector per token and average them.",
    "A router sends queries and documents through different modules.",
    "Paris is the capital of France and Berlin is the capital of Germany.",
    "Rivers flow from the mountains down to the sea through green valleys.",
    "She bought fresh bread, cheese and apples at the morning market.",
    "The weather today is sunny with a light breeze from the west.",
    "Programming languages like Python and Rust are popular with developers.",
    "Cats often sleep during the day and hunt during the night.",
    "The library opens at nine and closes at six on weekdays.",
    "Mathematics studies numbers, shapes, patterns and structures.",
    "An old lighthouse stands on the rocky northern coast.",
    "Children played football in the park until the sun went down.",
    "The orchestra performed a symphony written two centuries ago.",
    "Solar panels convert sunlight directly into electricity.",
    "Our train was delayed because of snow on the tracks.",
    "Vaccines train the immune system to recognize viruses.",
    "He wrote a letter to his grandmother every single week.",
    "The museum exhibits paintings, sculptures and ancient coins.",
    "Machine learning models learn patterns from training data.",
    "Compatibility between software versions is surprisingly hard.",
    "Saving a model writes configuration files and weight files.",
    "Loading an older model with a newer library usually works.",
    "Loading a newer model with an older library may silently lose settings.",
    "Jupiter is the largest planet in our solar system.",
    "The chef seasoned the soup with salt, pepper and thyme.",
    "Bicycles are a cheap, healthy and quiet way to travel.",
    "Every morning the baker wakes up before dawn to bake.",
    "Quantum computers exploit superposition and entanglement.",
    "The committee approved the budget after a long debate.",
    "Elephants remember places where they found water years ago.",
    "Volcanoes erupt when pressure builds beneath the earth's crust.",
    "Good documentation explains why, not only what.",
    "Version numbers follow major, minor and patch components.",
    "Unit tests check small pieces of code in isolation.",
    "Fixtures are saved example files that tests read back.",
    "Winter evenings are long, dark and quiet in the north.",
    "The farmer harvested wheat, barley, corn and potatoes.",
    "Zebras, giraffes and lions live on the African savanna.",
    "Jazz musicians often improvise melodies over chord changes.",
    "Oxygen, hydrogen and nitrogen are common chemical elements.",
    "Is this a question? Yes! It costs 10, 25 or 99 euros; see pages 3-4: done.",
    "Kids explore x-rays, keys and \"quotes\" (with brackets) at 7 o'clock & 8/9 @home.",
]

HIDDEN = 32


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for dist in ("sentence-transformers", "transformers", "tokenizers", "huggingface_hub",
                 "torch", "numpy", "safetensors"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _emit(obj: dict) -> None:
    sys.stdout.write(RESULT_PREFIX + json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------------------
# base: tiny BERT (WordPiece) and tiny RoBERTa (byte-level BPE)
# --------------------------------------------------------------------------------------


def _bert_words(corpus: list) -> list:
    """Words as BERT's own normalizer and pre-tokenizer split them (lowercased, punctuation apart)."""
    from tokenizers import normalizers, pre_tokenizers

    norm, pre = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    return [w for line in corpus for w, _ in pre.pre_tokenize_str(norm.normalize_str(line))]


def cmd_base(args: dict) -> dict:
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import (BertConfig, BertModel, BertTokenizerFast, RobertaConfig, RobertaModel,
                              RobertaTokenizerFast)

    out = args["out"]
    result = {}

    # --- BERT: WordPiece vocabulary learned from CORPUS with the `tokenizers` BPE trainer.
    # The library's WordPieceTrainer is not deterministic: it numbers the "##x"
    # continuation characters in hash-map order, which changes merge tie-breaks and thus
    # the learned vocabulary from run to run. The plain BpeTrainer is deterministic when
    # the whole initial alphabet is given (as for RoBERTa below). So continuation
    # characters are encoded as distinct private-use characters, a BPE vocabulary is
    # trained on that, and its tokens are decoded back to WordPiece form ("##er").
    bert_specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = _bert_words(CORPUS)
    cont = {c: chr(0xE000 + ord(c)) for c in sorted({c for w in words for c in w[1:]})}
    uncont = {v: k for k, v in cont.items()}
    encoded = [w[0] + "".join(cont[c] for c in w[1:]) for w in words]
    learner = Tokenizer(models.BPE())
    learner.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    learner.train_from_iterator([" ".join(encoded)], trainers.BpeTrainer(
        vocab_size=400, min_frequency=1, special_tokens=bert_specials, show_progress=False,
        initial_alphabet=sorted({c for w in encoded for c in w}),
    ))

    def to_wordpiece(tok: str) -> str:
        if tok in bert_specials:
            return tok
        text = "".join(uncont.get(c, c) for c in tok)
        return "##" + text if tok[0] in uncont else text

    ranked = sorted(learner.get_vocab().items(), key=lambda kv: kv[1])
    vocab = {to_wordpiece(tok): i for i, (tok, _) in enumerate(ranked)}
    wp = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", continuing_subword_prefix="##"))
    wp.add_special_tokens(bert_specials)
    wp.normalizer = normalizers.BertNormalizer(lowercase=True)
    wp.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wp.decoder = decoders.WordPiece(prefix="##")
    cls_id, sep_id = wp.token_to_id("[CLS]"), wp.token_to_id("[SEP]")
    wp.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    bert_tok = BertTokenizerFast(
        tokenizer_object=wp, unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]",
        cls_token="[CLS]", mask_token="[MASK]", do_lower_case=True, model_max_length=128,
    )
    torch.manual_seed(0)
    bert_cfg = BertConfig(
        vocab_size=wp.get_vocab_size(), hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, max_position_embeddings=128, pad_token_id=wp.token_to_id("[PAD]"),
    )
    bert = BertModel(bert_cfg).eval()
    bert_dir = os.path.join(out, "tiny-bert")
    bert.save_pretrained(bert_dir, safe_serialization=True)
    bert_tok.save_pretrained(bert_dir)
    # The raw `tokenizers.Tokenizer` (StaticEmbedding needs one) is the tokenizer.json above.
    result["tiny-bert"] = {"vocab_size": wp.get_vocab_size()}

    # --- RoBERTa: byte-level BPE trained from scratch on CORPUS.
    rob_specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=600, min_frequency=1, special_tokens=rob_specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    ))
    bpe.post_processor = processors.RobertaProcessing(("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>")))
    rob_tok = RobertaTokenizerFast(
        tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", model_max_length=128,
    )
    torch.manual_seed(0)
    rob_cfg = RobertaConfig(
        vocab_size=bpe.get_vocab_size(), hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, max_position_embeddings=130,  # RoBERTa positions start at pad_id + 1
        type_vocab_size=1, pad_token_id=bpe.token_to_id("<pad>"),
        bos_token_id=bpe.token_to_id("<s>"), eos_token_id=bpe.token_to_id("</s>"),
    )
    rob = RobertaModel(rob_cfg).eval()
    rob_dir = os.path.join(out, "tiny-roberta")
    rob.save_pretrained(rob_dir, safe_serialization=True)
    rob_tok.save_pretrained(rob_dir)
    result["tiny-roberta"] = {"vocab_size": bpe.get_vocab_size()}
    result["versions"] = _versions()
    return result


# --------------------------------------------------------------------------------------
# save: one model per variant (SentenceTransformer unless MODEL_CLASSES says otherwise)
# --------------------------------------------------------------------------------------

PROMPTS = {"query": "query: ", "document": "passage: "}
#: Exceptions that mean "this release does not have that keyword / class".
MISSING = (TypeError, ImportError, AttributeError)


def _models():
    from sentence_transformers import models
    return models


def _cls(name):
    """A module class by name; newer releases moved classes, so try the old path first."""
    models = _models()
    if hasattr(models, name):
        return getattr(models, name)
    raise ImportError(f"sentence_transformers.models has no {name}")


def _bert():
    return _cls("Transformer")("tiny-bert", max_seq_length=64)


def _pool(**kw):
    return _cls("Pooling")(HIDDEN, pooling_mode="mean", **kw)


def _norm():
    return _cls("Normalize")()


def _static():
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join("tiny-bert", "tokenizer.json"))
    return _cls("StaticEmbedding")(tok, embedding_dim=HIDDEN)


def _st(modules, **kw):
    from sentence_transformers import SentenceTransformer
    return SentenceTransformer(modules=modules, device="cpu", **kw)


def _router():
    router_cls = _cls("Router")
    query, document = _static(), _static()
    try:
        # Explicit default route so encode() without a task works on every 5.x release.
        return router_cls.for_query_document(query_modules=[query], document_modules=[document],
                                             default_route="document")
    except TypeError:
        return router_cls.for_query_document(query_modules=[query], document_modules=[document])


VARIANTS = {
    "bert_plain": lambda: _st([_bert(), _pool(), _norm()]),
    "roberta_plain": lambda: _st([_cls("Transformer")("tiny-roberta", max_seq_length=64), _pool(), _norm()]),
    "bert_prompts": lambda: _st([_bert(), _pool(), _norm()], prompts=dict(PROMPTS), default_prompt_name="query"),
    "bert_simfn": lambda: _st([_bert(), _pool(), _norm()], similarity_fn_name="dot"),
    "bert_trunc": lambda: _st([_bert(), _pool(), _norm()], truncate_dim=16),
    "bert_inclprompt": lambda: _st([_bert(), _pool(include_prompt=False), _norm()],
                                   prompts=dict(PROMPTS), default_prompt_name="query"),
    "bert_dense": lambda: _st([_bert(), _pool(), _dense(), _norm()]),
    # Stored in half precision (weights, and config.json's torch_dtype / dtype): transformers 4 loads
    # them into float32, transformers 5 computes in the stored dtype.
    "bert_fp16": lambda: _half(_st([_bert(), _pool(), _norm()]), "float16"),
    "bert_bf16": lambda: _half(_st([_bert(), _pool(), _norm()]), "bfloat16"),
    "static": lambda: _st([_static()]),
    "router": lambda: _st([_router()]),
    "cross_encoder": lambda: _cross_encoder(),
    # One label with Identity instead of the default Sigmoid: raw logits. Each release writes the
    # activation where its own CrossEncoder reads it (config.json, then config_sentence_transformers.json).
    "cross_encoder_identity": lambda: _cross_encoder(activation="Identity"),
    "sparse": lambda: _sparse(),
}

#: Variants that are not SentenceTransformer models: the class that saves and loads them.
MODEL_CLASSES = {"cross_encoder": "CrossEncoder", "cross_encoder_identity": "CrossEncoder", "sparse": "SparseEncoder"}


def _model_class(name: str):
    """``SentenceTransformer``, ``CrossEncoder`` or ``SparseEncoder`` of this release."""
    if name == "SentenceTransformer":
        from sentence_transformers import SentenceTransformer
        return SentenceTransformer
    if name == "CrossEncoder":
        from sentence_transformers.cross_encoder import CrossEncoder  # every release since 0.x
        return CrossEncoder
    if name == "SparseEncoder":
        try:
            from sentence_transformers.sparse_encoder import SparseEncoder  # ST 5.0+
        except ImportError:
            raise ImportError("sentence_transformers has no sparse_encoder.SparseEncoder") from None
        return SparseEncoder
    raise ValueError(name)


def _sparse_cls(name):
    """A SparseEncoder module class: ``sparse_encoder.models`` (5.0-5.3), ``sparse_encoder.modules`` (5.4+)."""
    import importlib
    for mod in ("sentence_transformers.sparse_encoder.models", "sentence_transformers.sparse_encoder.modules"):
        try:
            module = importlib.import_module(mod)
        except ImportError:
            continue
        if hasattr(module, name):
            return getattr(module, name)
    raise ImportError(f"sentence_transformers.sparse_encoder has no {name}")


def _cross_encoder(activation=None):
    """CrossEncoder on the tiny BERT with a fresh 1-label head (random, seeded); ``activation``: a
    torch.nn class name set as the default activation (the keyword each release calls it by)."""
    import inspect

    import torch

    cross_encoder = _model_class("CrossEncoder")
    if not hasattr(cross_encoder, "save"):
        raise AttributeError("CrossEncoder has no save()")
    kwargs = {}
    if activation is not None:
        params = inspect.signature(cross_encoder.__init__).parameters
        name = "activation_fn" if "activation_fn" in params else "default_activation_function"
        kwargs[name] = getattr(torch.nn, activation)()
    return cross_encoder("tiny-bert", num_labels=1, device="cpu", **kwargs)


def _sparse():
    """SPLADE: MLMTransformer (tiny BERT, masked-LM head initialised randomly) + max SpladePooling."""
    sparse_encoder = _model_class("SparseEncoder")
    mlm = _sparse_cls("MLMTransformer")("tiny-bert", max_seq_length=64)
    pooling = _sparse_cls("SpladePooling")(pooling_strategy="max")
    return sparse_encoder(modules=[mlm, pooling], device="cpu")


def _half(model, dtype: str):
    import torch
    return model.to(getattr(torch, dtype))


def _dense():
    import torch
    return _cls("Dense")(in_features=HIDDEN, out_features=16, activation_function=torch.nn.Tanh())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def cmd_save(args: dict) -> dict:
    import torch

    os.chdir(args["base"])  # base models are referenced by relative name (no absolute paths leak)
    saved, skipped, errors = [], {}, {}
    readme_limit = args.get("readme_limit", 20 * 1024)
    for name in args["variants"]:
        out_dir = os.path.join(args["out"], name)
        torch.manual_seed(0)
        try:
            model = VARIANTS[name]()
        except MISSING as exc:
            skipped[name] = _first_line(exc)
            continue
        try:
            model.save(out_dir)
        except Exception as exc:  # a real failure, not a missing feature
            errors[name] = _first_line(exc) + " | " + traceback.format_exc().strip().splitlines()[-1]
            continue
        readme = os.path.join(out_dir, "README.md")
        if os.path.isfile(readme) and os.path.getsize(readme) >= readme_limit:
            os.remove(readme)
        saved.append(name)
    return {"saved": saved, "skipped": skipped, "errors": errors, "versions": _versions()}


# --------------------------------------------------------------------------------------
# verify: load each fixture back and encode
# --------------------------------------------------------------------------------------


def _variant_class(path: str):
    """The class a fixture is loaded with: from its folder name (= variant name)."""
    return _model_class(MODEL_CLASSES.get(os.path.basename(os.path.normpath(path)), "SentenceTransformer"))


def cmd_verify(args: dict) -> dict:
    results = {}
    for path in args["paths"]:
        try:
            model_cls = _variant_class(path)
            model = model_cls(path, device="cpu")
            if model_cls.__name__ == "CrossEncoder":
                scores = model.predict([("hello world", "a small test sentence"),
                                        ("hello world", "hello world")], convert_to_numpy=True)
                scores = scores.reshape(len(scores), -1)
                results[path] = {"ok": True, "class": "CrossEncoder", "shape": list(scores.shape),
                                 "scores": [round(float(x), 4) for x in scores.ravel()],
                                 "num_labels": int(model.config.num_labels)}
                continue
            sentences = ["hello world", "a small test sentence"]
            if model_cls.__name__ == "SparseEncoder":  # a sparse torch tensor; it has no convert_to_numpy
                emb = model.encode(sentences).to_dense().cpu().numpy()
            else:
                emb = model.encode(sentences, convert_to_numpy=True)
            norms = [round(float((row ** 2).sum() ** 0.5), 4) for row in emb]
            results[path] = {"ok": True, "class": model_cls.__name__, "shape": list(emb.shape), "norms": norms,
                             "prompts": getattr(model, "prompts", None),
                             "default_prompt_name": getattr(model, "default_prompt_name", None),
                             "similarity_fn_name": getattr(model, "similarity_fn_name", None),
                             "truncate_dim": getattr(model, "truncate_dim", None)}
            if model_cls.__name__ == "SparseEncoder":
                results[path]["nonzero"] = [int((row != 0).sum()) for row in emb]
        except Exception as exc:
            results[path] = {"ok": False, "error": _first_line(exc)}
    return {"results": results, "versions": _versions()}


COMMANDS = {"base": cmd_base, "save": cmd_save, "verify": cmd_verify}


def main(argv: list) -> int:
    if len(argv) != 3 or argv[1] not in COMMANDS:
        sys.stderr.write(f"usage: {argv[0]} {{{'|'.join(COMMANDS)}}} JSON\n")
        return 2
    _emit(COMMANDS[argv[1]](json.loads(argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
