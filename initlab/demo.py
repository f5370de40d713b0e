"""``python -m initlab.demo`` (what ``make demo`` runs): the seed-cnn experiment.

Trains the one-conv CNN on Fashion-MNIST with conv1 initialized four ways (Xavier,
Kaiming fan_out, N(0, 0.01), zeros; 5 epochs, 1 seed, stacked training), prints which
folklore claims held, and where the HTML report is. When Fashion-MNIST is missing and
we are root on a Debian-like system with apt, installs ``dataset-fashion-mnist`` first;
otherwise initlab's normal resolution order applies (data dirs, cache, download).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

APT_PACKAGE = "dataset-fashion-mnist"


def ensure_fashion_mnist(data_dir=None) -> None:
    """Install Debian's Fashion-MNIST package when it is missing and we can (root + apt)."""
    from initlab.lab.data import locate

    if locate("fashion-mnist", data_dir) is not None:
        return
    apt = shutil.which("apt-get")
    if apt is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        print("Fashion-MNIST not found locally; initlab will look in its usual places and "
              "download it if the network allows.", flush=True)
        return
    print(f"Fashion-MNIST not found: installing Debian's {APT_PACKAGE} "
          f"(apt-get install -y {APT_PACKAGE}) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    res = subprocess.run([apt, "install", "-y", "--no-install-recommends", APT_PACKAGE],
                         env=env)
    if res.returncode != 0:
        subprocess.run([apt, "update"], env=env)
        res = subprocess.run([apt, "install", "-y", "--no-install-recommends", APT_PACKAGE],
                             env=env)
    if res.returncode != 0:
        print(f"apt-get could not install {APT_PACKAGE}; falling back to initlab's download.",
              flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m initlab.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/demo-seed-cnn", help="where to write the runs "
                        "and report.html (re-running resumes)")
    parser.add_argument("--fast", action="store_true", help="the fast variant (seconds)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    from initlab.errors import InitlabError
    from initlab.lab import scenarios

    ensure_fashion_mnist(args.data_dir)
    ctx = scenarios.Context(fast=args.fast, out=args.out, data_dir=args.data_dir,
                            device=args.device, progress=True)
    print("initlab demo: seed-cnn on Fashion-MNIST, conv1 initialized four ways "
          f"({'fast variant' if args.fast else '5 epochs x 4 inits x 1 seed'}) ...", flush=True)
    try:
        result = scenarios.get("seed-cnn").run(ctx)
    except InitlabError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    from initlab.commands.reproduce import print_result

    print_result(scenarios.get("seed-cnn"), result, args.fast)
    print(f"\nReport: {os.path.abspath(result.details['report'])}")
    print(f"Table again: initlab report {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
