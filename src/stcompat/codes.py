"""Every code stcompat can print, documented in one place (like a linter's rule list).

The base vocabulary below every stage: the reader (model/) takes its problem codes from here and
the judge (rules/) its finding codes, so neither imports the other. Code ranges are for people
(``STC0xx`` reading the input, STC1xx sentence-transformers, STC2xx transformers, STC3xx
tokenizers, STC4xx weights and torch, STC6xx fingerprints, STC7xx environments, STC9xx coverage);
code never reasons from the digits: a rule's ``layer`` says which part of the stack it is about.
``docs/rules.md`` is generated from this module (``python tools/gen_docs.py``); a test keeps the two
in step.
"""

from __future__ import annotations

from dataclasses import dataclass

from .vocab import Effect, Layer, Severity


@dataclass(frozen=True)
class Rule:
    """The documentation of one code."""

    code: str
    """Stable identifier, never reused for another meaning."""
    name: str
    """Short kebab-case name, e.g. ``malformed-json``."""
    severity: Severity
    """Default severity of findings with this code."""
    what: str
    """What it detects."""
    why: str
    """Why it matters to someone deploying the model."""
    fix: str
    """What to do about it."""
    layer: Layer
    """The layer of the stack it is about: which fix addresses it (never read from the code's digits)."""
    effect: Effect | None = None
    """For check findings: what it does to the verdict; None for codes check never emits."""


_RULES: tuple[Rule, ...] = (
    Rule(
        "STC001", "path-not-found", Severity.ERROR,
        "A path given on the command line does not exist and is not a repo id in the local Hugging Face cache.",
        "Nothing can be read.",
        "Check the spelling; for a hub model, download it first (the cache is read offline).",
        Layer.INPUT,
    ),
    Rule(
        "STC002", "no-model-found", Severity.ERROR,
        "A folder holds no model: no modules.json, config_sentence_transformers.json or config.json with "
        "weights, in it or in any folder below it.",
        "A Sentence Transformers loader would fall back to downloading a model of that name, or fail.",
        "Point at the folder that holds modules.json (or a folder of such folders).",
        Layer.INPUT,
    ),
    Rule(
        "STC003", "not-in-hf-cache", Severity.ERROR,
        "A repo id was given but the local Hugging Face cache has no snapshot of it.",
        "stcompat reads the cache offline and never downloads.",
        "Run `hf download REPO` (or load it once) on a machine with access, or pass --cache-dir.",
        Layer.INPUT,
    ),
    Rule(
        "STC004", "bad-argument", Severity.ERROR,
        "An option or argument has a value stcompat cannot use.",
        "The command cannot run as asked.",
        "See `stcompat COMMAND --help`.",
        Layer.INPUT,
    ),
    Rule(
        "STC005", "file-unreadable", Severity.ERROR,
        "A file or folder of the model exists but cannot be read (permissions, I/O error, a symlink loop), or "
        "something else stands where a file should be (a FIFO, a socket, a folder named config.json or "
        "model.safetensors).",
        "Loaders fail on the same file.",
        "Fix the file's permissions or restore it.",
        Layer.INPUT,
    ),
    Rule(
        "STC010", "malformed-json", Severity.ERROR,
        "A JSON file of the model cannot be parsed as the loaders read it (UTF-8 text: a byte order mark or a "
        "byte that is not UTF-8 fails too; tokenizer.json and safetensors headers also reject NaN and Infinity), "
        "or its top level has the wrong shape (e.g. modules.json not a list of objects, a config not an object).",
        "Every loader reads these files with json.load; the model cannot load anywhere.",
        "Restore the file from the original save (re-download, or save the model again).",
        Layer.INPUT,
    ),
    Rule(
        "STC011", "path-escapes-folder", Severity.WARNING,
        "A path in modules.json, or a symlink inside the folder, points outside the model folder.",
        "Loaders follow it and read files the model does not own; stcompat reports it and does not follow it.",
        "Copy the files into the model folder and use relative paths inside it.",
        Layer.INPUT,
    ),
    Rule(
        "STC012", "module-folder-missing", Severity.WARNING,
        "modules.json lists a module whose folder does not exist.",
        "Modules that store weights or a config (Pooling, Dense, ...) fail to load without it; "
        "Normalize needs no files, so its missing folder is harmless (all-MiniLM-L6-v2 ships that way).",
        "Restore the folder from the original save.",
        Layer.INPUT,
    ),
    Rule(
        "STC013", "module-config-missing", Severity.WARNING,
        "A module's folder exists but its config file (e.g. 1_Pooling/config.json) is absent.",
        "The module is built with defaults or fails to load, depending on the release.",
        "Restore the config file from the original save.",
        Layer.INPUT,
    ),
    Rule(
        "STC014", "safetensors-header-invalid", Severity.ERROR,
        "A .safetensors file's header cannot be parsed (as safetensors parses it: UTF-8, no NaN), names a dtype "
        "no safetensors release knows, has `__metadata__` values that are not strings, or its tensor offsets do "
        "not match the file size.",
        "safetensors refuses the file (truncated download or corrupted copy).",
        "Re-download or re-save the weights.",
        Layer.INPUT,
    ),
    Rule(
        "STC015", "pickle-weights", Severity.INFO,
        "Weights are stored as a pickle (pytorch_model.bin, *.pt, *.pth, *.ckpt).",
        "Loading a pickle runs code; recent transformers refuse torch.load on torch < 2.6 (CVE-2025-32434). "
        "stcompat never unpickles: it only lists the file and its magic bytes.",
        "Convert to safetensors (save the model again with a release that writes model.safetensors).",
        Layer.INPUT,
    ),
    Rule(
        "STC016", "remote-code", Severity.WARNING,
        "config.json has an auto_map, or modules.json names a module type outside sentence_transformers: "
        "loading runs Python code shipped with the model.",
        "That code is not part of any release stcompat knows, and needs trust_remote_code=True.",
        "Review the code before trusting it; prefer a model whose architecture ships with transformers.",
        Layer.INPUT,
    ),
    Rule(
        "STC017", "tokenizer-unreadable", Severity.WARNING,
        "tokenizer.json exists but has no recognisable `model` section (absent, not an object, or its `type`, "
        "`vocab` or `merges` of a JSON type tokenizers does not accept).",
        "The fast tokenizer cannot be built from it.",
        "Re-save the tokenizer with a current tokenizers release.",
        Layer.INPUT,
    ),
    Rule(
        "STC018", "path-name-unusable", Severity.WARNING,
        "A path named in a model file (e.g. a modules.json `path`) contains a NUL character or otherwise "
        "cannot name a file.",
        "No operating system can open it; the loader fails on it.",
        "Restore the file from the original save.",
        Layer.INPUT,
    ),
    Rule(
        "STC019", "input-bound-exceeded", Severity.ERROR,
        "A file or folder exceeds a bound stcompat keeps to stay fast and small whatever it is given: a JSON "
        "file over 256 MiB or nested over 64 levels, modules.json over 1,000 entries, a folder tree over "
        "100,000 entries.",
        "No real model comes near these bounds; input that does is broken or built to exhaust a reader.",
        "Restore the folder from the original save.",
        Layer.INPUT,
    ),
    Rule(
        "STC020", "config-value-invalid", Severity.WARNING,
        "A key a loader uses holds a value of the wrong JSON type (e.g. Pooling `pooling_mode` a number, "
        "`max_seq_length` a string, a modules.json `idx` a string), or a JSON file read by Python holds "
        "NaN, Infinity or -Infinity (not standard JSON; Python's json accepts them).",
        "No release writes such a value; the loader passes it on and fails later (`'int' object has no "
        "attribute 'lower'`) or runs with a nonsensical size, depending on the key and the release.",
        "Restore the file from the original save, or correct the value to the type the key takes.",
        Layer.INPUT,
    ),
    Rule(
        "STC021", "lfs-pointer", Severity.ERROR,
        "A file of the model is a Git LFS pointer (a short text naming the real file's hash and size) instead "
        "of its content: the repository was cloned or copied without Git LFS.",
        "Loaders read the pointer as weights or JSON and fail (safetensors: header too large; torch.load: "
        "invalid load key 'v'; json: expecting value).",
        "Run `git lfs install && git lfs pull` in the clone, or download the model with `hf download`.",
        Layer.INPUT,
    ),
    Rule(
        "STC022", "weights-truncated", Severity.ERROR,
        "A weights file holds fewer bytes than it says: a safetensors header places tensors past the end of the "
        "file, or a torch.save zip (pytorch_model.bin) lacks the end-of-central-directory record written last.",
        "The copy or download was cut short; every release fails to read the file, with an error that depends "
        "on the release (check predicts it).",
        "Fetch the real file again (`git lfs pull`, `hf download`, or copy it anew) and compare its size with "
        "the original; no version change helps.",
        Layer.INPUT,
    ),
    Rule(
        "STC023", "modules-json-missing", Severity.WARNING,
        "The folder has no modules.json but holds module folders (`N_Kind`, as sentence-transformers saves them): "
        "a Dense, a Normalize, or a Pooling with another mode than the one the loader builds.",
        "Without modules.json every release builds its default pipeline (the transformer plus mean pooling, as "
        "its fallback code says) and never opens those folders: the model loads and silently returns other "
        "embeddings (another dimension, no normalization, another pooling).",
        "Restore modules.json from the original save (it lists each module folder and its class); no version "
        "change helps.",
        Layer.INPUT, Effect.DEGRADED,
    ),
    Rule(
        "STC024", "module-folder-missing-load", Severity.ERROR,
        "A module listed in modules.json (Pooling, Dense...) has no folder, as in a copy made by hand or a "
        "partial commit, and the module needs a file from it (its config).",
        "Every release fails, each with its own exception, read from its module-loading code: 2.2 opens the "
        "config file (FileNotFoundError), 2.3-4.x look the folder up on the Hub with the local path as repo id "
        "(huggingface_hub's HFValidationError), 5.0+ construct the module without its config (TypeError, "
        "missing required arguments).",
        "Restore the named folder and files from the original save (the finding lists them); no version "
        "change helps.",
        Layer.INPUT, Effect.FAILS,
    ),
    Rule(
        "STC025", "tokenizer-files-missing", Severity.ERROR,
        "The transformer's folder holds no tokenizer file at all (no tokenizer.json, vocabulary, "
        "tokenizer_config.json or special_tokens_map.json), as in a partial commit of the weights and config.",
        "What happens is the target transformers' own code, read from its source: up to 4.5x AutoTokenizer "
        "raises OSError (no vocabulary file resolved); 4.52-4.57 try to convert a slow tokenizer and raise "
        "ImportError for protobuf unless sentencepiece or protobuf is installed; 5.x build a default "
        "vocabulary of special tokens and load: every word becomes the unknown token, embeddings are "
        "meaningless (degraded).",
        "Restore the tokenizer files from the original save (the finding names the folder); no version change "
        "helps.",
        Layer.INPUT, Effect.FAILS,
    ),
    Rule(
        "STC026", "config-not-transformers", Severity.ERROR,
        "The transformer's config.json has no `model_type`: it is not a transformers config (a flattened copy "
        "whose config.json is the Pooling config, or another file copied over it).",
        "transformers cannot tell the architecture: every release fails with ValueError \"Unrecognized model "
        "in <path>\" (4.x list every type they know in the message and first look for a type's name in the "
        "path, which would pick that type instead: then the outcome is unknown).",
        "Restore the transformers config.json from the original save (and the module folders modules.json "
        "names); no version change helps.",
        Layer.INPUT, Effect.FAILS,
    ),
    Rule(
        "STC099", "internal-error", Severity.ERROR,
        "stcompat itself failed on this input (a bug): the command stopped with exit status 3, not a verdict.",
        "The result is missing, not negative: a CI job must not read it as a failing model.",
        "Run again with --debug for the traceback and report it with the input that caused it.",
        Layer.INPUT,
    ),
    Rule(
        "STC601", "fingerprint-unreadable", Severity.ERROR,
        "A fingerprint file is not a zip archive with a stcompat header, an array is truncated, "
        "or its corpus does not match its stored hash.",
        "verify and compare have nothing trustworthy to compare against.",
        "Write the fingerprint again with `stcompat fingerprint MODEL -o FILE` in the reference environment.",
        Layer.FINGERPRINT,
    ),
    Rule(
        "STC602", "corpus-malformed", Severity.ERROR,
        "A --corpus file is empty, not UTF-8, or a JSON line is not an object with a string \"text\".",
        "The probe texts cannot be read.",
        "Give one text a line, or JSON lines such as {\"text\": \"...\", \"tags\": [\"long\"], \"prompt\": \"query\"}.",
        Layer.FINGERPRINT,
    ),
    Rule(
        "STC603", "fingerprint-format-unsupported", Severity.ERROR,
        "A fingerprint file declares a format version this stcompat does not read "
        "(see docs/fingerprint-format.md).",
        "Reading it anyway could compare the wrong numbers.",
        "Upgrade stcompat, or fingerprint again with the installed one.",
        Layer.FINGERPRINT,
    ),
    Rule(
        "STC604", "runtime-missing", Severity.ERROR,
        "fingerprint or verify needs numpy and sentence-transformers, and one is not installed.",
        "Embeddings cannot be computed in this environment.",
        "pip install 'stcompat[runtime]' (install torch first), or use `compare` on two fingerprint files.",
        Layer.FINGERPRINT,
    ),
    Rule(
        "STC605", "model-load-failed", Severity.ERROR,
        "The installed sentence-transformers raised an error while loading the model.",
        "The model cannot serve in this environment at all, which is worse than any drift.",
        "Run `stcompat inspect MODEL` for the cause; pin the release the model was saved with.",
        Layer.FINGERPRINT,
    ),
    Rule(
        "STC606", "corpus-mismatch", Severity.ERROR,
        "Two fingerprints given to compare embed different corpora.",
        "Embeddings of different texts cannot be compared.",
        "Fingerprint both sides with the same --corpus (or both with the built-in probe corpus).",
        Layer.FINGERPRINT,
    ),
    # ---- check: sentence-transformers modules (STC1xx) -------------------------------------
    Rule(
        "STC101", "module-class-missing", Severity.ERROR,
        "A modules.json (or router_config.json) `type` cannot be imported by the target "
        "sentence-transformers: its module path does not exist there, or does not define the class.",
        "Loading raises ModuleNotFoundError / ImportError before anything else happens. Typical: a 5.4+ save "
        "(sentence_transformers.base.modules.*) on <= 5.3; StaticEmbedding (3.2+) or Router (5.0+) on older releases.",
        "Upgrade sentence-transformers to the release check names.",
        Layer.ST_MODULES, Effect.FAILS,
    ),
    Rule(
        "STC102", "module-config-rejected", Severity.ERROR,
        "A module's config file has a key the target's loader passes to the constructor, which does not "
        "accept it (or lacks a key the constructor requires).",
        "Loading raises TypeError: e.g. `Pooling.__init__() got an unexpected keyword argument 'include_prompt'` "
        "(a 2.4+ save on 2.3).",
        "Upgrade sentence-transformers to the release check names.",
        Layer.ST_MODULES, Effect.FAILS,
    ),
    Rule(
        "STC103", "module-weights-unreadable", Severity.ERROR,
        "A module stores its weights only in a file the target's loader does not open "
        "(e.g. 2_Dense/model.safetensors, written from 3.0.1, read by Dense <= 3.0.0 only as pytorch_model.bin).",
        "Loading raises FileNotFoundError.",
        "Upgrade sentence-transformers, or convert the module's weights to the format the target reads.",
        Layer.ST_MODULES, Effect.FAILS,
    ),
    Rule(
        "STC104", "custom-module", Severity.WARNING,
        "A module type lives outside sentence_transformers: its behaviour depends on code stcompat does not know.",
        "Whether it loads depends on that package being installed (and on trust_remote_code from ST 6.0).",
        "Install the package that provides it, and review its code; check cannot predict it.",
        Layer.ST_MODULES, Effect.UNKNOWN,
    ),
    Rule(
        "STC106", "custom-module-not-installed", Severity.ERROR,
        "A module type lives in a package outside sentence_transformers (e.g. InstructorEmbedding) that the "
        "target does not provide (given as requirements: none names it; an installed environment: no folder or "
        "module of that name on its sys.path, listed without importing), and the model folder ships no code "
        "file of that name.",
        "sentence-transformers imports the type and raises ModuleNotFoundError before building the model.",
        "Install the package that provides the module (and review its code), or point modules.json at a "
        "sentence_transformers class that computes the same.",
        Layer.ENVIRONMENT, Effect.FAILS,
    ),
    Rule(
        "STC107", "custom-module-untrusted", Severity.ERROR,
        "A module type lives outside sentence_transformers and the target release (6.0 on) imports such a class "
        "only when the caller passes trust_remote_code=True, for a local folder too.",
        "`SentenceTransformer(path)` raises ValueError (\"... which is not part of Sentence Transformers. "
        "Importing it executes third-party code ...\") before anything is built.",
        "Review the code that class runs, then load with `SentenceTransformer(path, trust_remote_code=True)` (and "
        "install the package that provides it); no version change is needed.",
        Layer.ST_MODULES, Effect.FAILS,
    ),
    # ---- check: config_sentence_transformers.json (STC11x) ---------------------------------
    Rule(
        "STC105", "root-module-built-from-path", Severity.ERROR,
        "A module other than Transformer is stored at the model folder's root (path \"\", as 5.1+ saves "
        "StaticEmbedding), and the target release (3.2-4.x) builds root modules as "
        "module_class(model_path, cache_dir=..., **kwargs) instead of calling its loader.",
        "The constructor receives a folder path where it expects a tokenizer or weights, and raises "
        "(e.g. `ValueError: The tokenizer must be fast ...`).",
        "Upgrade sentence-transformers to the release check names.",
        Layer.ST_MODULES, Effect.FAILS,
    ),
    Rule(
        "STC110", "prompts-ignored", Severity.WARNING,
        "The model was saved with prompts / default_prompt_name, and the target release does not read them (< 2.4).",
        "The model loads, but texts are embedded without their prompt: embeddings differ silently "
        "(min cosine 0.93 measured on a tiny model).",
        "Upgrade sentence-transformers, or prepend the prompt to the texts yourself.",
        Layer.ST_CONFIG, Effect.DEGRADED,
    ),
    Rule(
        "STC111", "similarity-fn-ignored", Severity.WARNING,
        "The model was saved with a similarity_fn_name other than cosine, and the target release does not "
        "read it (< 3.0).",
        "`model.similarity` does not exist or scores with cosine instead of the saved function; rankings can change.",
        "Upgrade sentence-transformers, or compute the saved similarity yourself.",
        Layer.ST_CONFIG, Effect.DEGRADED,
    ),
    Rule(
        "STC112", "truncate-dim-ignored", Severity.WARNING,
        "The model was saved with truncate_dim, and the target release does not read it from the config (< 5.4).",
        "The model loads but returns full-size embeddings: the dimension changes silently and no longer "
        "matches an index built with the saved model.",
        "Upgrade sentence-transformers, or pass truncate_dim= when loading.",
        Layer.ST_CONFIG, Effect.DEGRADED,
    ),
    Rule(
        "STC113", "requirements-unmet", Severity.ERROR,
        "The model declares `requirements` that the target stack does not satisfy, and the target release "
        "enforces them (6.0+).",
        "Loading raises ImportError listing the unmet requirements.",
        "Install versions that satisfy the model's requirements.",
        Layer.ST_CONFIG, Effect.FAILS,
    ),
    Rule(
        "STC114", "requirements-not-enforced", Severity.INFO,
        "The model declares `requirements` the target stack does not satisfy, but the target release does not "
        "read them (< 6.0).",
        "The model's author says it needs those versions; the load will not tell you.",
        "Install versions that satisfy the model's requirements.",
        Layer.ST_CONFIG, Effect.INFO,
    ),
    Rule(
        "STC115", "newer-save-warning", Severity.INFO,
        "The model was saved by a newer sentence-transformers than the target; the target logs its version warning.",
        "This warning is the only message users see before a failure or a silent change.",
        "Prefer upgrading the framework to the saving release.",
        Layer.ST_CONFIG, Effect.INFO,
    ),
    # ---- check: the loader class (STC13x) -----------------------------------------------------
    Rule(
        "STC130", "loader-class-missing", Severity.ERROR,
        "The class the folder is loaded with does not exist in the target sentence-transformers "
        "(SparseEncoder before 5.0).",
        "`from sentence_transformers import SparseEncoder` raises ImportError before any file is read. The message "
        "is predicted up to the file path Python appends to it (the target's site-packages).",
        "Upgrade sentence-transformers to a release that has the class (check's fix names the smallest move).",
        Layer.LOADER, Effect.FAILS,
    ),
    Rule(
        "STC131", "cross-encoder-activation-ignored", Severity.WARNING,
        "A CrossEncoder saved an activation other than the default (Sigmoid for one label, else Identity) where "
        "the target's CrossEncoder does not read it: up to 3.4 it reads config.json's "
        "sbert_ce_default_activation_function only; 4.0-5.3 also config.json's sentence_transformers.activation_fn; "
        "5.4+ writes config_sentence_transformers.json's activation_fn, which only 5.4+ reads. From 4.0 a path not "
        "starting with 'torch.' is refused without trust_remote_code=True (a warning, then the default).",
        "The model loads and predict() returns other scores (e.g. probabilities instead of raw logits), with no error.",
        "Load with a release that reads where the folder saved it (check's fix), or pass the activation explicitly "
        "(CrossEncoder(path, activation_fn=...); default_activation_function=... up to 3.4).",
        Layer.LOADER, Effect.DEGRADED,
    ),
    Rule(
        "STC132", "loader-class-mismatch", Severity.WARNING,
        "The folder is loaded with another class than the one that saved it (a SentenceTransformer folder with "
        "CrossEncoder or SparseEncoder, a CrossEncoder folder with SparseEncoder).",
        "No release refuses: CrossEncoder builds a fresh classification head on the transformer, SparseEncoder adds "
        "an untrained sparse head (5.4+ logs \"Converting ... model ... to ...\"). The outputs mean nothing.",
        "Load the folder with the class that saved it (config_sentence_transformers.json's model_type).",
        Layer.LOADER, Effect.DEGRADED,
    ),
    # ---- check: transformers (STC2xx) ---------------------------------------------------------
    Rule(
        "STC120", "st-import-broken", Severity.ERROR,
        "The target sentence-transformers imports a name from huggingface_hub that the target huggingface-hub "
        "no longer exports (ST <= 2.2 imports cached_download, removed in huggingface_hub 0.26).",
        "`import sentence_transformers` raises ImportError: nothing loads, whatever the model.",
        "Pin huggingface-hub below the release that removed the name, or upgrade sentence-transformers.",
        Layer.ENVIRONMENT, Effect.FAILS,
    ),
    Rule(
        "STC121", "stack-contradicts-requires-dist", Severity.INFO,
        "The target stack has a dependency version outside the target sentence-transformers' Requires-Dist.",
        "pip would not install that combination; predictions for it rest on an environment nobody gets by installing.",
        "Use versions inside the published ranges.",
        Layer.ENVIRONMENT, Effect.INFO,
    ),
    Rule(
        "STC122", "st-import-needs-newer-transformers", Severity.ERROR,
        "The target sentence-transformers imports, when it is imported, a name from a transformers submodule "
        "that the target transformers does not have yet (2.4.0 takes is_nltk_available from "
        "transformers.utils.import_utils, which transformers has from 4.34; its Requires-Dist admits 4.32).",
        "`import sentence_transformers` raises ImportError: nothing loads, whatever the model. The message is "
        "predicted up to the file path Python appends to it (the target's site-packages).",
        "Upgrade transformers to a release that has the name (check's fix names the smallest move).",
        Layer.TRANSFORMERS, Effect.FAILS,
    ),
    Rule(
        "STC201", "model-type-unknown", Severity.ERROR,
        "config.json's model_type is not known to the target transformers release.",
        "AutoConfig raises ValueError (\"...does not recognize this architecture...\").",
        "Upgrade transformers to the first release that knows the model_type.",
        Layer.TRANSFORMERS, Effect.FAILS,
    ),
    Rule(
        "STC202", "remote-code-model", Severity.WARNING,
        "config.json maps Auto classes to Python files in the model folder (auto_map). With a model_type the "
        "target transformers does not know, AutoConfig needs trust_remote_code=True: the loader class passes False "
        "(SentenceTransformer from 2.3, CrossEncoder from 2.7) or nothing (then transformers asks on stdin; with "
        "a stdin that is not a terminal, 4.30-4.31 let input()'s EOFError through, later releases raise their "
        "refusal). A model_type it knows is built from its own code (info). All read from each release's source.",
        "The load fails with the refusal (ValueError) or EOFError; with trust_remote_code=True it runs the "
        "folder's code, whose behaviour is outside what check knows (auto_map without AutoConfig: unknown).",
        "Read the code, then load with trust_remote_code=True; prefer an architecture that ships with transformers.",
        Layer.TRANSFORMERS, Effect.FAILS,
    ),
    Rule(
        "STC203", "half-precision-compute", Severity.WARNING,
        "The transformer declares a half-precision dtype (config.json `dtype` / `torch_dtype` float16 or "
        "bfloat16) or, declaring none, stores its weights in F16/BF16, and the target transformers loads a "
        "checkpoint in its own dtype (5.0 on; 4.x loads into float32 unless told otherwise).",
        "The model loads but computes in half precision: embeddings move by ~1e-3..1e-2 (cosine 1-1e-5), "
        "enough to change nearest neighbours against an index built in float32.",
        "Load with `SentenceTransformer(path, model_kwargs={\"dtype\": torch.float32})`, or pin the "
        "transformers release check names (`transformers<5`).",
        Layer.TRANSFORMERS, Effect.DEGRADED,
    ),
    # ---- check: tokenizers (STC3xx) -------------------------------------------------------------
    Rule(
        "STC301", "bpe-merges-pairs-unreadable", Severity.ERROR,
        "tokenizer.json stores BPE merges as pairs ([\"a\", \"b\"], written by tokenizers >= 0.20) and the "
        "target tokenizers release reads only \"a b\" strings.",
        "Loading the tokenizer raises `Exception: data did not match any variant of untagged enum ModelWrapper "
        "at line L column C`.",
        "Upgrade tokenizers (and a transformers that allows it) to the release check names.",
        Layer.TOKENIZERS, Effect.FAILS,
    ),
    # ---- check: weights and torch (STC4xx) ------------------------------------------------------
    Rule(
        "STC401", "pickle-refused", Severity.ERROR,
        "The transformer's weights exist only as a pickle (pytorch_model.bin) and the target transformers "
        "refuses torch.load on the target torch (CVE-2025-32434).",
        "Loading raises ValueError asking to upgrade torch.",
        "Upgrade torch to the version named, or convert the weights to safetensors.",
        Layer.WEIGHTS, Effect.FAILS,
    ),
    Rule(
        "STC402", "safetensors-unreadable", Severity.ERROR,
        "The transformer's weights exist only as model.safetensors and the target cannot read them: its "
        "transformers predates safetensors support, or the safetensors package is not installed.",
        "transformers raises OSError: Error no file named pytorch_model.bin ... found in directory ...",
        "Upgrade transformers (4.30+ requires safetensors), or install safetensors.",
        Layer.WEIGHTS, Effect.FAILS,
    ),
    # ---- matrix: environments (STC7xx) ---------------------------------------------------------
    Rule(
        "STC403", "pickle-not-weights-only", Severity.ERROR,
        "The transformer's pytorch_model.bin references a global outside torch.load's weights-only allow-list "
        "(a numpy array or another object saved beside the tensors; read from the pickle's opcodes, never "
        "unpickled), and the target loads it with weights_only=True: torch's default from 2.6 (read from each "
        "torch wheel into kb/data/torch.json).",
        "torch refuses the file (UnpicklingError \"Weights only load failed\"; transformers 4.x replaces it with "
        "its own OSError). With an older torch it loads unless transformers passes weights_only=True itself, "
        "which the knowledge does not hold: unknown.",
        "Re-save the weights without the object (or as model.safetensors) in an environment you trust; or, for a "
        "file from a trusted source only, allowlist the global with torch.serialization.add_safe_globals.",
        Layer.WEIGHTS, Effect.FAILS,
    ),
    Rule(
        "STC404", "safetensors-dtype-unknown-to-torch", Severity.WARNING,
        "A safetensors file stores tensors of a dtype the target torch does not define (F8_E4M3/F8_E5M2 before "
        "torch 2.1, U16/U32/U64 before 2.3; each release's dtypes read from its wheel into kb/data/torch.json).",
        "safetensors cannot hand such a tensor to that torch. What it raises was not measured (no such torch "
        "installs on the machine that measures), so the verdict is unknown, not fails.",
        "Use a torch release that defines the dtype (the finding names the first), or convert the weights.",
        Layer.WEIGHTS, Effect.UNKNOWN,
    ),
    Rule(
        "STC701", "env-build-failed", Severity.ERROR,
        "An isolated environment for a release could not be built (the resolver found no solution, a package "
        "could not be downloaded, or the shared torch was replaced).",
        "Nothing can be observed in that environment; matrix reports its cells as env-error.",
        "Read the resolver's message; pin the layer it names with --with, or run with network access.",
        Layer.MATRIX,
    ),
    Rule(
        "STC702", "ray-missing", Severity.ERROR,
        "`matrix --executor ray` was asked for, but Ray is not installed in this environment.",
        "Ray is an optional extra: the core never imports it, so nothing can be sent to a cluster without it.",
        "pip install \"stcompat[ray]\" (on the driver and on every node), or leave --executor at local.",
        Layer.MATRIX,
    ),
    Rule(
        "STC703", "model-too-large-to-ship", Severity.ERROR,
        "A model folder is larger than what `matrix --executor ray` sends to the workers as a Ray object, "
        "and it lies under no --shared-path.",
        "Workers share no file system with the driver: a large folder must be read where it is, on a path "
        "every node sees.",
        "Put the model under a folder every node mounts at the same path and pass that folder as --shared-path.",
        Layer.MATRIX,
    ),
    Rule(
        "STC704", "ray-unreachable", Severity.ERROR,
        "`matrix --executor ray` could not start or reach the Ray cluster named by --address (or RAY_ADDRESS).",
        "No cell can run without a cluster; nothing was built.",
        "Check the address (`ray status` on the head node), or leave --address out to start a local instance.",
        Layer.MATRIX,
    ),
    # ---- convert, lock, stamp (STC75x) ------------------------------------------------------------
    Rule(
        "STC750", "convert-target-not-covered", Severity.ERROR,
        "The target names no sentence-transformers release, or one the knowledge base does not cover.",
        "convert, lock and stamp decide from what each release understands; without it they would guess.",
        "Name a covered release in --target (`stcompat kb` lists the range), or rebuild the knowledge.",
        Layer.COVERAGE,
    ),
    Rule(
        "STC751", "convert-model-kind", Severity.ERROR,
        "The model is a CrossEncoder or SparseEncoder; convert rewrites SentenceTransformer folders only.",
        "The knowledge describes what SentenceTransformer(path) does; the other loaders are not covered, so a "
        "conversion could not be planned or proved.",
        "Upgrade the target's sentence-transformers instead (`stcompat check` names the release).",
        Layer.INPUT,
    ),
    Rule(
        "STC752", "convert-module-unavailable", Severity.ERROR,
        "A module class (or a Pooling mode) of the model does not exist in the target release under any "
        "import path, e.g. StaticEmbedding before 3.2 or Router before 5.0.",
        "No rewrite of the files can make the target compute what the module computes.",
        "Upgrade the target's sentence-transformers to a release that has the module.",
        Layer.ST_MODULES,
    ),
    Rule(
        "STC753", "convert-setting-untranslatable", Severity.ERROR,
        "A module config key holds a value the target's constructor cannot take and that is not its default "
        "(or weights, a folder layout or BPE merges that the target's loaders cannot be given).",
        "Dropping the key would silently change what the module computes.",
        "Upgrade the target; or retrain/re-save the model without that setting.",
        Layer.ST_MODULES,
    ),
    Rule(
        "STC754", "convert-loses-behaviour", Severity.ERROR,
        "The target does not apply some saved settings (prompts, default_prompt_name, similarity_fn_name, "
        "truncate_dim, Pooling include_prompt): the converted model would load and return something else.",
        "A silent behaviour change is worse than a load failure: nothing raises, results just get worse.",
        "Upgrade the target; or pass --allow-loss and apply the settings by hand as the output's README.md says.",
        Layer.ST_CONFIG,
    ),
    Rule(
        "STC755", "convert-output-exists", Severity.ERROR,
        "The output folder (or stamp's backup file) already exists.",
        "convert and stamp never overwrite anything unasked.",
        "Choose another -o, or pass --force to replace it.",
        Layer.INPUT,
    ),
    Rule(
        "STC756", "convert-result-check-failed", Severity.ERROR,
        "`check` of the converted folder against the target is not ok: the plan missed something.",
        "The output would not load or not behave as saved; it was removed.",
        "Report it with the model's `stcompat inspect` output; the findings name what was missed.",
        Layer.COVERAGE,
    ),
    Rule(
        "STC757", "convert-result-verify-failed", Severity.ERROR,
        "Loaded in a real environment of the target, the converted folder failed to load, or its embeddings "
        "of the probe corpus differ from the source's beyond noise.",
        "The conversion changed what the model computes; the output was removed.",
        "Report it with the printed figures; use --no-verify only to inspect the output by hand.",
        Layer.FINGERPRINT,
    ),
    Rule(
        "STC758", "convert-runtime-missing", Severity.ERROR,
        "Converting weights (safetensors to pytorch_model.bin) needs torch and safetensors, and one is not "
        "installed here.",
        "The target's loader opens only pytorch_model.bin, so the weights must be rewritten.",
        "pip install 'stcompat[runtime]' (install torch first) and run convert again.",
        Layer.WEIGHTS,
    ),
    Rule(
        "STC759", "no-known-good-release", Severity.ERROR,
        "lock or stamp found no covered sentence-transformers release that loads the model as saved.",
        "There is no range to write: every known release fails or loses behaviour.",
        "Run `stcompat check MODEL --target ...` to see why; the model may need a newer release than the "
        "knowledge covers.",
        Layer.COVERAGE,
    ),
    # ---- convert --to onnx|openvino: exports (STC76x) ----------------------------------------------
    Rule(
        "STC760", "export-runtime-missing", Severity.ERROR,
        "`convert --to onnx|openvino` or `serve --backend onnx|openvino` needs onnx, onnxruntime, openvino or "
        "nncf, and one is not installed here.",
        "The exporter, the runtime that is measured against torch, or the int8 quantizer is missing.",
        "pip install 'stcompat[export]' (install torch first).",
        Layer.ENVIRONMENT,
    ),
    Rule(
        "STC761", "export-not-admitted", Severity.ERROR,
        "The exported model's embeddings of the probe corpus kept fewer of each text's 10 nearest neighbours "
        "than the threshold (default 0.99) against the torch model: typically an int8 export.",
        "A faster model that returns other neighbours degrades retrieval with no error anywhere; the export "
        "was not written.",
        "Export without --quantize (fp32 exports keep the neighbours), lower --min-agreement deliberately, or "
        "pass --allow-loss to write it marked not admitted (serve still refuses it).",
        Layer.FINGERPRINT,
    ),
    Rule(
        "STC762", "export-unsupported-model", Severity.ERROR,
        "The model has no text Transformer module first (StaticEmbedding, Router, a multimodal or custom "
        "module), or it is not a SentenceTransformer: only a Transformer's forward pass is exported.",
        "Everything around the graph runs as sentence-transformers code; a pipeline without that module has "
        "nothing the exporter takes.",
        "Serve it with the torch backend.",
        Layer.ST_MODULES,
    ),
    Rule(
        "STC763", "export-failed", Severity.ERROR,
        "torch.onnx.export raised while tracing the model's forward pass, or the runtime (onnxruntime, OpenVINO) "
        "could not run the graph it wrote (a float16 model's graph mixing float and float16 types, for one). "
        "A packed-rows graph that fails is not this: it is dropped and the padded graph serves alone.",
        "The architecture (or this transformers release's code for it) does not export with this torch.",
        "Read the exporter's or runtime's message; try another torch or transformers release, or serve with "
        "torch.",
        Layer.COVERAGE,
    ),
    # ---- serve: the start-up guard (STC85x) -----------------------------------------------------
    Rule(
        "STC850", "serve-check-refused", Severity.ERROR,
        "`stcompat serve` ran `check` of the model against the environment it runs in, and the verdict is "
        "fails or degraded.",
        "A model that degrades loads and answers 200 with embeddings the saved model would not give (a prompt, "
        "truncate_dim or similarity function ignored); one that fails cannot load. Clients cannot tell.",
        "Install what the check findings' fix names (`stcompat check MODEL` prints it); --allow-unsafe starts it "
        "anyway and says so in /info, the X-Stcompat-Override header and the metrics.",
        Layer.ENVIRONMENT,
    ),
    Rule(
        "STC851", "serve-verify-refused", Severity.ERROR,
        "`stcompat serve --fingerprint FILE` re-embedded the fingerprint's probe corpus with the loaded model "
        "and the band is drift or broken.",
        "The server would return vectors that differ from the ones the index was built with: search quality "
        "drops with no error anywhere.",
        "Run `stcompat verify MODEL FILE` for the diagnosis (Normalize lost, pooling changed, prompts ignored, "
        "...); fix the folder or the environment, or re-pin deliberately with `stcompat fingerprint`. "
        "--allow-unsafe starts it anyway, reported everywhere.",
        Layer.FINGERPRINT,
    ),
    Rule(
        "STC852", "serve-load-failed", Severity.ERROR,
        "The installed sentence-transformers raised while loading the model for serving.",
        "Nothing can be served; --allow-unsafe cannot change that. When check said ok, the knowledge missed it.",
        "Read the loader's message; `stcompat check MODEL` and `stcompat inspect MODEL` show what the folder "
        "needs. Report a load that check predicted ok.",
        Layer.COVERAGE,
    ),
    Rule(
        "STC853", "serve-model-kind", Severity.ERROR,
        "The model is a SparseEncoder (or of an unknown kind): serve has endpoints for SentenceTransformer "
        "(/v1/embeddings) and CrossEncoder (/v1/rerank) models only.",
        "A sparse vector is not what an OpenAI embeddings client expects; serving it as dense would be wrong.",
        "Serve it with a server built for sparse retrieval, or serve a dense model.",
        Layer.INPUT,
    ),
    Rule(
        "STC854", "serve-backend-refused", Severity.ERROR,
        "`stcompat serve --backend onnx|openvino`: the exported model's embeddings of the probe corpus, "
        "measured at start-up against the same folder run by torch, kept fewer of each text's 10 nearest "
        "neighbours than --min-agreement (default 0.99).",
        "The backend is faster only by returning other vectors: a search index built with the torch model "
        "would get other neighbours.",
        "Serve with --backend torch, or an fp32 export (no --quantize) in fp32 (no --precision bf16). "
        "--allow-unsafe does not override this: the torch backend serves the same model correctly.",
        Layer.FINGERPRINT,
    ),
    Rule(
        "STC855", "serve-instance-failed", Severity.ERROR,
        "A model instance running in its own worker process (--instance-mode process) could not be built "
        "there, or its process died while encoding.",
        "At start-up the server does not open its socket; while serving, the requests of that batch get a "
        "500 and the worker is restarted for the next batch.",
        "Read the worker's error in the message (the same model loaded in the server process first, so it is "
        "usually memory: each worker holds its own copy); lower --instances, or use --instance-mode thread (the "
        "default).",
        Layer.COVERAGE,
    ),
    # ---- check: coverage (STC9xx) ----------------------------------------------------------------
    Rule(
        "STC901", "target-not-covered", Severity.WARNING,
        "The target sentence-transformers release is not in the knowledge base (or none was given).",
        "check cannot predict what that release does.",
        "Run `stcompat kb update` (builds the facts of newer releases from the package registry), or target "
        "a covered release (`stcompat kb`).",
        Layer.COVERAGE, Effect.UNKNOWN,
    ),
    Rule(
        "STC904", "kb-update-unusable", Severity.WARNING,
        "The knowledge `stcompat kb update` cached (under the stcompat cache, kb/) cannot be used: unreadable, "
        "not JSON or cut short, another schema, rows lacking the bundled rows' fields, or made over other "
        "bundled data (stcompat was upgraded since).",
        "Releases only that update knew about are \"not covered\" again (STC901); the bundled knowledge answers.",
        "Run `stcompat kb update` again (it rewrites the file), or delete the file named.",
        Layer.COVERAGE,
    ),
    Rule(
        "STC905", "kb-update-failed", Severity.ERROR,
        "`stcompat kb update` could not build the facts of newer releases: --offline with no cached index or "
        "artifact, the package registry unreachable, or an artifact the extractors cannot read.",
        "The knowledge stays as it was (bundled data plus any earlier update).",
        "Run it again with access to the package registry (or without --offline); the message names what is "
        "missing.",
        Layer.COVERAGE,
    ),
    Rule(
        "STC903", "other-model-kind", Severity.INFO,
        "The model is a CrossEncoder or SparseEncoder (config_sentence_transformers.json model_type, or "
        "inferred from its head or modules) and check was asked about SentenceTransformer(path) "
        "(--loader sentence-transformer): from 5.0 such a folder is loaded as a plain transformer, its "
        "modules.json and settings unused.",
        "People load rerankers and sparse models with SentenceTransformer by mistake; the verdict is about that load.",
        "Load it with its own class; check judges that load by default (no --loader).",
        Layer.COVERAGE, Effect.INFO,
    ),
    Rule(
        "STC902", "layer-not-checked", Severity.INFO,
        "A layer the model depends on (transformers, tokenizers, torch) is not known for the target, "
        "so the rules about it were not evaluated.",
        "A failure in that layer would go unpredicted.",
        "Pin the layer in --target, or let check resolve it (needs the package registry).",
        Layer.COVERAGE, Effect.INFO,
    ),
)

RULES: dict[str, Rule] = {rule.code: rule for rule in sorted(_RULES, key=lambda r: r.code)}
"""Every rule by code, in code order."""
