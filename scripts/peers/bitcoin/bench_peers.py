#!/usr/bin/env python3
"""Time the peers adding one cosigner's signatures to the benchmark PSBTs, as whole processes.

What it is for: the reference figures of docs/PERFORMANCE.md's Bitcoin signing benchmark. Each run
starts sign_psbt.py in a fresh process under the interpreter that has the peer (Debian's
/usr/bin/python3 for Electrum, this interpreter for embit and bdkpython) and measures that child's
process time (user + system CPU, interpreter start-up, imports, parse, sign and write included) and its
own `sign` phase. Medians of --runs runs. The Electrum-signed PSBTs are kept (outside the repository)
so that other signers' signatures can be compared byte for byte; every peer's signatures are compared
with Electrum's here too.

What it must never do: go online, or write into the repository.

Usage:
  bench_peers.py [--sizes 100,1000] [--peers electrum,embit,bdk,bdk-finalize] [--runs 5] [--cosigner 0]
                 [--keep-dir /tmp/airlock-peer-sigs] [--json] [--extra 'NAME=COMMAND {in} {out}']...
--extra adds another signer measured the same way, side by side in the same run (e.g. Airlock's
signer: a shell-free command template whose {in} and {out} are replaced by the unsigned and signed PSBT
paths); its signatures are compared with Electrum's too.
Prints a table (or JSON with --json) of median process seconds per peer and size, and whether each
peer's signatures are byte-identical to Electrum's.
"""

from __future__ import annotations

import argparse
import json
import shlex
import os
import resource
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import peer_common as common  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = {
    # name: (sign_psbt.py --peer, extra arguments)
    "electrum": ("electrum", []),
    "embit": ("embit", []),
    "bdk": ("bdk", []),
    "bdk-finalize": ("bdk", ["--bdk-try-finalize"]),
}
LABELS = {
    "electrum": "Electrum 4.3.4 (Python API, multisig wallet)",
    "embit": "embit 0.8.0 (PSBT.sign_with)",
    "bdk": "bdkpython 3.1.1, no finalize attempt",
    "bdk-finalize": "bdkpython 3.1.1, try_finalize (its default)",
}


def run_child(argv: list[str], expect_json: bool = True) -> tuple[float, float, dict | None]:
    """Run argv; returns (child process CPU s, wall s, its JSON output if expected)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start_wall = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True)
    except FileNotFoundError:
        raise common.PeerError(f"cannot run {argv[0]}: not found") from None
    wall = time.perf_counter() - start_wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise common.PeerError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, json.loads(proc.stdout) if expect_json else None


def sign_text(row: dict) -> str:
    value = row["median_sign_call_process_s"]
    return "–" if value is None else f"{value:.3f}"


def compare(a: str, b: str) -> dict:
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "compare_sigs.py"), a, b], capture_output=True, text=True
    )
    if proc.returncode not in (0, 1):
        raise common.PeerError(f"compare_sigs.py failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000", help="benchmark PSBTs to sign (psbt_N.b64)")
    parser.add_argument("--peers", default="electrum,embit,bdk,bdk-finalize")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cosigner", type=int, default=0)
    parser.add_argument("--keep-dir", default="/tmp/airlock-peer-sigs", help="signed PSBTs are kept here")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        help="NAME=COMMAND template with {in} and {out}; measured and compared like the peers",
    )
    args = parser.parse_args()

    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        raise common.PeerError(f"unknown peer(s) {unknown}; known: {', '.join(PEERS)}")
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        raise common.PeerError(f"--sizes must be comma-separated numbers, got {args.sizes!r}") from None
    if args.runs < 1:
        raise common.PeerError("--runs must be at least 1")
    common.check_cosigner(args.cosigner)
    extras = []
    for item in args.extra:
        name, sep, template = item.partition("=")
        if not sep or not name.strip() or "{in}" not in template or "{out}" not in template:
            raise common.PeerError(f"--extra must be NAME=COMMAND with {{in}} and {{out}}, got {item!r}")
        extras.append((name.strip(), shlex.split(template)))
    bench = common.bench_dir()
    os.makedirs(args.keep_dir, exist_ok=True)

    load_before = os.getloadavg()[0]
    results = []
    for size in sizes:
        source = bench / f"psbt_{size}.b64"
        if not source.is_file():
            raise common.PeerError(f"{source} does not exist")
        electrum_out = None
        for peer in peers + [name for name, _ in extras]:
            out = os.path.join(args.keep_dir, f"psbt_{size}.{peer}.cosigner{args.cosigner}.psbt")
            if peer in PEERS:
                peer_arg, extra = PEERS[peer]
                argv = [
                    common.python_for_peer(peer_arg),
                    os.path.join(HERE, "sign_psbt.py"),
                    "--peer", peer_arg,
                    "--cosigner", str(args.cosigner),
                    "--in", str(source),
                    "--out", out,
                    "--timing",
                    *extra,
                ]
                label = LABELS[peer]
            else:
                template = dict(extras)[peer]
                argv = [part.replace("{in}", str(source)).replace("{out}", out) for part in template]
                label = peer
            process_s, wall_s, sign_s = [], [], []
            for _ in range(args.runs):
                cpu, wall, report = run_child(argv, expect_json=peer in PEERS)
                process_s.append(cpu)
                wall_s.append(wall)
                if report is not None:
                    sign_s.append(report["timing"]["phases_process_s"]["sign"])
            row = {
                "peer": peer,
                "label": label,
                "inputs": size,
                "runs": args.runs,
                "median_process_s": round(statistics.median(process_s), 3),
                "median_wall_s": round(statistics.median(wall_s), 3),
                "median_sign_call_process_s": round(statistics.median(sign_s), 3) if sign_s else None,
                "signed_psbt": out,
            }
            if peer == "electrum":
                electrum_out = out
            elif electrum_out:
                verdict = compare(electrum_out, out)
                row["identical_to_electrum"] = verdict["identical"]
                row["signatures_differing_from_electrum"] = len(verdict["different"])
            results.append(row)

    load_after = os.getloadavg()[0]
    if args.json:
        common.print_json({"load_average_1min": [load_before, load_after], "results": results})
        return
    print(
        f"cosigner {args.cosigner}, medians of {args.runs} runs, child process CPU time (user+sys); "
        f"1-min load average {load_before:.2f} before, {load_after:.2f} after ({os.cpu_count()} CPUs)"
    )
    print(f"| signer | inputs | process s | wall s | sign call s | sigs identical to Electrum |")
    print("|---|---|---|---|---|---|")
    for row in results:
        same = row.get("identical_to_electrum")
        same_text = "(reference)" if row["peer"] == "electrum" else (
            "n/a" if same is None else ("yes" if same else f"no ({row['signatures_differing_from_electrum']} differ)")
        )
        print(
            f"| {row['label']} | {row['inputs']} | {row['median_process_s']:.3f} | {row['median_wall_s']:.3f} "
            f"| {sign_text(row)} | {same_text} |"
        )
    print(f"signed PSBTs kept in {args.keep_dir}")


if __name__ == "__main__":
    common.run_main(main)
