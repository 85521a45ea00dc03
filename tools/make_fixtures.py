#!/usr/bin/env python3
"""Generate tests/fixtures: tiny models saved by real Sentence Transformers releases.

Run by people, not CI. Each release gets its own isolated, cached environment built with
``stcompat.matrix.envs`` (uv), pinned to the transformers / tokenizers / huggingface_hub /
numpy of its period (research notes, section 0), so every fixture is written exactly as a
user of that release would have written it.

Steps:
  1. build (or reuse) one env per release;
  2. build the tiny base models once, in the oldest env (transformers 4.30.2), so every
     later transformers can read them; they stay in ``--build-dir`` (outside the repo);
  3. in each release's env, run ``tools/fixture_builder.py save`` which builds every
     variant and calls ``model.save()``; variants a release lacks are skipped and the
     reason is recorded;
  4. write ``manifest.json``; with ``--verify``, load each fixture back in the env that
     saved it and print a table;
  5. derive the damaged copies (DAMAGES: an LFS pointer, a truncated file, modules.json left out, a
     module of another package) into ``tests/fixtures/damaged`` and list them under ``damaged``.

Only the damaged copies, no environment (e.g. after adding one to DAMAGES):
    python tools/make_fixtures.py --derive-only

Regenerate everything:
    python tools/make_fixtures.py --verify

Add or regenerate some variants only (other fixtures and their manifest entries stay as they are):
    python tools/make_fixtures.py --variants cross_encoder sparse --verify
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from stcompat.matrix.envs import (EnvBuildError, EnvSpec, default_cache_dir, ensure_env,  # noqa: E402
                                  release_spec)

BUILDER = Path(__file__).resolve().parent / "fixture_builder.py"
RESULT_PREFIX = "@@STCOMPAT_RESULT@@ "  # must match fixture_builder.RESULT_PREFIX
SCHEMA = "stcompat.fixtures/1"

RELEASES = ("2.2.2", "2.3.1", "2.7.0", "3.0.1", "3.4.1", "4.1.0", "5.1.2", "5.7.0", "6.2.0")
VARIANTS = ("bert_plain", "roberta_plain", "bert_prompts", "bert_simfn", "bert_trunc",
            "bert_inclprompt", "bert_dense", "static", "router", "cross_encoder", "sparse", "bert_fp16", "bert_bf16",
            "cross_encoder_identity")
#: Damaged copies of saved fixtures, as people copy models by hand or clone them without Git LFS:
#: (release, saved variant, name, damage). ``damage`` is ACTION:FILE with ACTION one of ``lfs`` (the file
#: replaced by its Git LFS pointer), ``truncate`` (the first half of the file kept), ``delete`` (the file
#: or folders, comma-separated, left out), ``flatten`` (every module folder's files moved into the root, in
#: modules.json order, and the paths set to ""), ``copy`` (SRC>DEST: DEST overwritten with SRC's bytes),
#: ``retype`` (modules.json's Pooling entry given the class path FILE instead), ``pickle_numpy`` (a numpy
#: array added to the torch.save state dict FILE) or ``remote_code`` (config.json FILE given a model_type
#: transformers does not know and an auto_map to code files written beside it). They are written to
#: tests/fixtures/damaged/NAME and listed under ``damaged`` in the manifest (not ``fixtures``: they are
#: not what a release saved).
DAMAGES = (
    ("2.2.2", "bert_plain", "bin_lfs", "lfs:pytorch_model.bin"),
    ("2.2.2", "bert_plain", "bin_truncated", "truncate:pytorch_model.bin"),
    ("2.3.1", "bert_plain", "safetensors_lfs", "lfs:model.safetensors"),
    ("2.3.1", "bert_plain", "safetensors_truncated", "truncate:model.safetensors"),
    # Without modules.json every release builds Transformer + mean Pooling: Dense and Normalize go unused.
    ("2.2.2", "bert_dense", "no_modules_json", "delete:modules.json"),
    # A module type from a package outside sentence_transformers (as InstructorEmbedding models have).
    ("2.2.2", "bert_plain", "custom_module", "retype:InstructorEmbedding.INSTRUCTOR_Pooling"),
    # A module folder left out of a hand-made copy: the Pooling module has no config to read.
    ("2.2.2", "bert_plain", "pooling_missing", "delete:1_Pooling"),
    # Weights and config without any tokenizer file (a partial commit of the transformer alone).
    ("2.2.2", "bert_plain", "no_tokenizer",
     "delete:tokenizer.json,vocab.txt,tokenizer_config.json,special_tokens_map.json"),
    # Every module folder's files copied into the root (modules.json paths ""): the Pooling config
    # overwrites the transformers config.json.
    ("2.2.2", "bert_plain", "flattened", "flatten:"),
    # config.json holding another file's content (here the ST config), not a transformers config.
    ("2.2.2", "bert_plain", "config_not_transformers", "copy:config_sentence_transformers.json>config.json"),
    # A checkpoint that holds more than tensors (a training script's numpy counter saved beside the weights):
    # torch.load's weights_only allow-list (the default from torch 2.6) refuses the numpy global.
    ("2.2.2", "bert_plain", "bin_numpy_object", "pickle_numpy:pytorch_model.bin"),
    # A transformer of a type transformers does not know, with its code in the folder (config.json auto_map),
    # as custom architectures are published: loading it needs trust_remote_code=True.
    ("2.2.2", "bert_plain", "remote_code", "remote_code:config.json"),
)
#: Base models are built with the oldest stack so that every newer transformers reads them.
BASE_RELEASE = "2.2.2"
DEFAULT_TORCH = "/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"

_print_lock = threading.Lock()


def say(msg: str) -> None:
    with _print_lock:
        print(msg, flush=True)


def _child_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    # No network from inside the envs (the hub is unreachable anyway; fail fast, not slow).
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", PYTHONHASHSEED="0",
               HF_HUB_DISABLE_TELEMETRY="1", DO_NOT_TRACK="1")
    return env


def run_builder(python: Path, command: str, args: dict, label: str) -> dict:
    """Run one fixture_builder sub-command in an env; return its JSON result."""
    proc = subprocess.run([str(python), str(BUILDER), command, json.dumps(args)],
                          capture_output=True, text=True, env=_child_env(), cwd=str(REPO))
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
    raise RuntimeError(f"{label}: fixture_builder {command} failed (exit {proc.returncode}): {tail}")


def file_sizes(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.stat().st_size
            for p in sorted(folder.rglob("*")) if p.is_file()}


def empty_dirs(folder: Path) -> list:
    return [p.relative_to(folder).as_posix() for p in sorted(folder.rglob("*")) if p.is_dir() and not any(p.iterdir())]


def build_base(python: Path, build_dir: Path, force: bool) -> dict:
    """Tiny BERT/RoBERTa base models in ``build_dir/base`` (built once, reused)."""
    base = build_dir / "base"
    marker = base / "base.json"
    if marker.is_file() and not force:
        return json.loads(marker.read_text())
    tmp = build_dir / "base.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    info = run_builder(python, "base", {"out": str(tmp)}, f"st{BASE_RELEASE} base")
    (tmp / "base.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    shutil.rmtree(base, ignore_errors=True)
    tmp.rename(base)
    return info


def save_release(release: str, python: Path, base_info: dict, build_dir: Path, out: Path,
                 variants: tuple) -> dict:
    """Save the variants with one release; swap them into ``out/st<release>`` on success.

    With every variant, ``out/st<release>`` is replaced as a whole. With a subset, only the
    folders of those variants are replaced (or removed, when the release now skips one);
    every other fixture of the release is left untouched.
    """
    stage = build_dir / "stage" / f"st{release}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    res = run_builder(python, "save", {"base": str(build_dir / "base"), "out": str(stage),
                                       "variants": list(variants)}, f"st{release}")
    dest = out / f"st{release}"
    if set(variants) >= set(VARIANTS):
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(stage), str(dest))
        moved = [dest]
    else:
        dest.mkdir(parents=True, exist_ok=True)
        moved = []
        for variant in variants:
            shutil.rmtree(dest / variant, ignore_errors=True)
            if (stage / variant).is_dir():
                shutil.move(str(stage / variant), str(dest / variant))
                moved.append(dest / variant)
        shutil.rmtree(stage, ignore_errors=True)
    # safetensors writes 0600 files; make the fixtures readable by everyone (content untouched).
    for folder in moved:
        for p in folder.rglob("*"):
            if p.is_file():
                p.chmod(0o644)
    say(f"st{release}: saved {len(res['saved'])}, skipped {len(res['skipped'])}, errors {len(res['errors'])}")
    return res


def spec_summary(spec: EnvSpec) -> dict:
    return {"requirements": list(spec.requirements), "no_deps": list(spec.no_deps),
            "torch": os.path.basename(spec.torch), "env_key": spec.key()}


def write_manifest(out: Path, results: dict, specs: dict, base_info: dict,
                   variants: tuple = VARIANTS) -> dict:
    """Write manifest.json; releases not regenerated this run keep their old entries.

    With a subset of ``variants``, a regenerated release keeps the old entries (saved,
    skipped, errors, fixtures) of every variant that was not regenerated.
    """
    path = out / "manifest.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    releases = {r: v for r, v in old.get("releases", {}).items() if (out / f"st{r}").is_dir()}
    redone = set(variants)
    fixtures = [f for f in old.get("fixtures", []) if f["release"] in releases
                and (f["release"] not in results or f["variant"] not in redone)]
    for release, res in results.items():
        prev = releases.get(release, {}) if not redone >= set(VARIANTS) else {}
        if prev and prev.get("env") != res["versions"]:
            say(f"st{release}: WARNING env versions differ from the manifest's; "
                "the fixtures not regenerated keep their recorded versions")
        saved = [v for v in prev.get("saved", []) if v not in redone] + list(res["saved"])
        skipped = {v: why for v, why in prev.get("skipped", {}).items() if v not in redone}
        skipped.update(res["skipped"])
        errors = {v: why for v, why in prev.get("errors", {}).items() if v not in redone}
        errors.update(res["errors"])
        releases[release] = {
            "env": res["versions"],
            "pins": spec_summary(specs[release]),
            "saved": sorted(saved, key=VARIANTS.index),
            "skipped": {v: skipped[v] for v in sorted(skipped, key=VARIANTS.index)},
            "errors": {v: errors[v] for v in sorted(errors, key=VARIANTS.index)},
        }
        for variant in res["saved"]:
            rel = f"st{release}/{variant}"
            fixtures.append({"path": rel, "release": release, "variant": variant,
                             "versions": res["versions"], "files": file_sizes(out / rel),
                             # git drops empty directories (e.g. 2_Normalize/ before ST 6.0),
                             # so record them; loading works without them.
                             "empty_dirs": empty_dirs(out / rel)})
    order = {r: i for i, r in enumerate(RELEASES)}
    vorder = {v: i for i, v in enumerate(VARIANTS)}
    fixtures.sort(key=lambda f: (order.get(f["release"], 99), f["release"], vorder.get(f["variant"], 99)))
    manifest = {
        "schema": SCHEMA,
        "generated": datetime.date.today().isoformat(),
        "generator": "tools/make_fixtures.py",
        "base_models": base_info,
        "model_notes": {
            "tiny-bert": "BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, "
                         "intermediate_size=37, max_position_embeddings=128), seed 0, WordPiece tokenizer",
            "tiny-roberta": "same sizes (max_position_embeddings=130), seed 0, byte-level BPE tokenizer",
            "pipeline": "Transformer(max_seq_length=64) + Pooling(32, mean) + Normalize unless the variant says otherwise",
        },
        "releases": dict(sorted(releases.items(), key=lambda kv: order.get(kv[0], 99))),
        "fixtures": fixtures,
    }
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def lfs_pointer(path: Path) -> bytes:
    """The pointer file `git lfs` leaves in place of ``path`` when the clone skipped LFS (spec v1)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{digest}\nsize {path.stat().st_size}\n".encode()


def _same_tree(a: Path, b: Path) -> bool:
    """Whether two folders hold the same files with the same bytes (empty folders included)."""
    if not b.is_dir():
        return False
    listing = lambda root: sorted(p.relative_to(root).as_posix() + ("/" if p.is_dir() else "") for p in root.rglob("*"))
    if listing(a) != listing(b):
        return False
    return all(p.read_bytes() == (b / p.relative_to(a)).read_bytes() for p in a.rglob("*") if p.is_file())


def derive_damaged(out: Path) -> list:
    """Write every DAMAGES copy from its saved fixture and record it under ``damaged`` in manifest.json."""
    path = out / "manifest.json"
    manifest = json.loads(path.read_text())
    saved = {f["path"]: f for f in manifest["fixtures"]}
    entries = []
    for release, variant, name, damage in DAMAGES:
        source = saved.get(f"st{release}/{variant}")
        if source is None:
            say(f"damaged/{name}: SKIPPED, st{release}/{variant} is not a saved fixture")
            continue
        final = out / "damaged" / name
        dest = out / "damaged" / f".{name}.tmp"
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(out / source["path"], dest)
        action, target = damage.split(":", 1)
        victim = dest / target
        if action == "lfs":
            victim.write_bytes(lfs_pointer(victim))
        elif action == "truncate":
            victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
        elif action == "retype":
            modules = json.loads((dest / "modules.json").read_text())
            for module in modules:
                if module["type"].endswith(".Pooling"):
                    module["type"] = target
            (dest / "modules.json").write_text(json.dumps(modules, indent=2))
        elif action == "flatten":
            # Module folders in modules.json order, so a later module's file overwrites an earlier one's.
            modules = json.loads((dest / "modules.json").read_text())
            for module in modules:
                if module["path"]:
                    folder = dest / module["path"]
                    for item in sorted(folder.iterdir()):
                        (dest / item.name).write_bytes(item.read_bytes())
                    shutil.rmtree(folder)
                    module["path"] = ""
            (dest / "modules.json").write_text(json.dumps(modules, indent=2))
        elif action == "copy":
            source_name, dest_name = target.split(">", 1)
            (dest / dest_name).write_bytes((dest / source_name).read_bytes())
        elif action == "pickle_numpy":
            import numpy
            import torch

            state = torch.load(victim, map_location="cpu", weights_only=True)  # our own fixture: tensors only
            state["training_step"] = numpy.array([1000], dtype=numpy.int64)
            torch.save(state, victim)
        elif action == "remote_code":
            config = json.loads(victim.read_text())
            config["model_type"] = "tiny_remote_bert"
            config["architectures"] = ["TinyRemoteModel"]
            config["auto_map"] = {"AutoConfig": "configuration_tiny_remote.TinyRemoteConfig",
                                  "AutoModel": "modeling_tiny_remote.TinyRemoteModel"}
            victim.write_text(json.dumps(config, indent=2))
            # The code a trusting load would run: BERT under another name (never run by the fixtures' loads).
            (dest / "configuration_tiny_remote.py").write_text(
                "from transformers import BertConfig\n\n\nclass TinyRemoteConfig(BertConfig):\n"
                "    model_type = \"tiny_remote_bert\"\n")
            (dest / "modeling_tiny_remote.py").write_text(
                "from transformers import BertModel\n\nfrom .configuration_tiny_remote import TinyRemoteConfig\n\n\n"
                "class TinyRemoteModel(BertModel):\n    config_class = TinyRemoteConfig\n")
        elif action == "delete":
            for part in target.split(","):
                if (dest / part).is_dir():
                    shutil.rmtree(dest / part)
                else:
                    (dest / part).unlink()
        else:
            raise ValueError(f"unknown damage {damage!r}")
        # Replace the committed copy only when it differs (a truth run may be reading it).
        if _same_tree(dest, final):
            shutil.rmtree(dest)
        else:
            shutil.rmtree(final, ignore_errors=True)
            dest.rename(final)
        dest = final
        entries.append({"path": f"damaged/{name}", "derived_from": source["path"], "damage": damage,
                        "release": release, "variant": name, "versions": source["versions"],
                        "files": file_sizes(dest), "empty_dirs": [d for d in source.get("empty_dirs", []) if (dest / d).is_dir()]})
    manifest["damaged"] = entries
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    say(f"damaged: wrote {len(entries)} copies under {out / 'damaged'}")
    return entries


def verify(releases: list, pythons: dict, out: Path, jobs: int, variants: tuple = VARIANTS) -> bool:
    """Load each fixture back in the env that saved it (SentenceTransformer, or CrossEncoder /
    SparseEncoder for those variants); print a release x variant table."""
    manifest = json.loads((out / "manifest.json").read_text())

    def one(release: str) -> tuple:
        saved = [v for v in manifest["releases"].get(release, {}).get("saved", []) if v in variants]
        paths = [str(out / f"st{release}" / v) for v in saved]
        res = run_builder(pythons[release], "verify", {"paths": paths}, f"st{release} verify")
        return release, {Path(p).name: r for p, r in res["results"].items()}

    with ThreadPoolExecutor(jobs) as ex:
        table = dict(ex.map(one, releases))
    all_ok = True
    width = 10
    print("\nverify (loaded in the env that saved it; cell = embedding dim, or number of scores "
          "for cross_encoder; '-' = skipped)")
    print("variant".ljust(16) + "".join(r.ljust(width) for r in releases))
    for variant in variants:
        row = variant.ljust(16)
        for release in releases:
            r = table[release].get(variant)
            if r is None:
                cell = "-"
            elif r["ok"]:
                cell = f"ok {r['shape'][1]}"
            else:
                cell, all_ok = "FAIL", False
            row += cell.ljust(width)
        print(row)
    for release in releases:
        for variant, r in table[release].items():
            if not r["ok"]:
                print(f"  st{release}/{variant}: {r['error']}")
    return all_ok


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--releases", nargs="+", default=list(RELEASES), metavar="VER",
                    help=f"subset of: {' '.join(RELEASES)}")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), metavar="NAME",
                    help=f"regenerate (and verify) only these variants, leaving the other fixtures as they are; "
                         f"subset of: {' '.join(VARIANTS)}")
    ap.add_argument("--out", type=Path, default=REPO / "tests" / "fixtures")
    ap.add_argument("--jobs", type=int, default=2, help="parallel builds (default 2)")
    ap.add_argument("--build-dir", type=Path, default=default_cache_dir().parent / "fixture-build",
                    help="base models and staging, outside the repo (default: next to the env cache)")
    ap.add_argument("--cache-dir", type=Path, default=None, help="env cache (default $STCOMPAT_CACHE or ~/.cache/stcompat/envs)")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the envs (must match the torch wheel)")
    ap.add_argument("--torch", default=DEFAULT_TORCH if os.path.isfile(DEFAULT_TORCH) else "torch==2.13.0",
                    help="torch wheel path or requirement, installed first into every env")
    ap.add_argument("--offline", action="store_true", help="uv --offline (use uv's cache only)")
    ap.add_argument("--rebuild-base", action="store_true", help="rebuild the tiny base models")
    ap.add_argument("--verify", action="store_true", help="after saving, load every fixture back")
    ap.add_argument("--verify-only", action="store_true", help="only run the verify step")
    ap.add_argument("--derive-only", action="store_true",
                    help="only (re)write the damaged copies (DAMAGES) from the saved fixtures; no environment")
    ap.add_argument("-v", "--verbose", action="store_true", help="print uv commands")
    args = ap.parse_args(argv)

    if args.derive_only:
        derive_damaged(args.out.resolve())
        return 0
    unknown = [r for r in args.releases if r not in RELEASES]
    if unknown:
        ap.error(f"unknown release(s) {unknown}; known: {' '.join(RELEASES)}")
    releases = [r for r in RELEASES if r in args.releases]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; known: {' '.join(VARIANTS)}")
    variants = tuple(v for v in VARIANTS if v in args.variants)
    jobs = max(1, args.jobs)

    specs = {r: release_spec(r, python=args.python, torch=args.torch) for r in set(releases) | {BASE_RELEASE}}
    log = say if args.verbose else None

    def env(release: str) -> tuple:
        say(f"st{release}: env {specs[release].key()} ...")
        return release, ensure_env(specs[release], cache_dir=args.cache_dir, offline=args.offline, log=log)

    pythons, failed = {}, {}
    with ThreadPoolExecutor(jobs) as ex:
        futures = {r: ex.submit(env, r) for r in specs}
        for r, fut in futures.items():
            try:
                pythons[r] = fut.result()[1]
            except EnvBuildError as exc:
                failed[r] = str(exc)
                say(f"st{r}: ENV FAILED: {exc}")

    out = args.out.resolve()
    if not args.verify_only:
        if BASE_RELEASE not in pythons:
            print(f"cannot build base models: env for {BASE_RELEASE} failed", file=sys.stderr)
            return 1
        base_info = build_base(pythons[BASE_RELEASE], args.build_dir.resolve(), args.rebuild_base)
        todo = [r for r in releases if r in pythons]
        results = {}
        with ThreadPoolExecutor(jobs) as ex:
            futures = {r: ex.submit(save_release, r, pythons[r], base_info, args.build_dir.resolve(), out,
                                    variants) for r in todo}
            for r, fut in futures.items():
                try:
                    results[r] = fut.result()
                except RuntimeError as exc:
                    failed[r] = str(exc)
                    say(f"st{r}: SAVE FAILED: {exc}")
        manifest = write_manifest(out, results, specs, base_info, variants)
        derive_damaged(out)
        print(f"\nwrote {out / 'manifest.json'} ({len(manifest['fixtures'])} fixtures)")
        for r in releases:
            res = results.get(r)
            if res:
                skipped = ", ".join(f"{v} ({why})" for v, why in res["skipped"].items()) or "none"
                print(f"  st{r}: saved {' '.join(res['saved'])}; skipped: {skipped}")
                for v, why in res["errors"].items():
                    print(f"  st{r}: ERROR {v}: {why}")
                    failed[f"{r}/{v}"] = why

    ok = True
    if args.verify or args.verify_only:
        ok = verify([r for r in releases if r in pythons], pythons, out, jobs, variants)
    for r, why in failed.items():
        print(f"FAILED st{r}: {why}", file=sys.stderr)
    return 0 if ok and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
