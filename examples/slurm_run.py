"""Rate a plate on a SLURM cluster: one GPU per dask worker, through dask-jobqueue.

The plate must sit on storage every node sees (a shared filesystem). Install the extra
first: ``pip install 'ames-batch[slurm]'``. Then, on the login node::

    python examples/slurm_run.py /shared/plates/plate.zarr --jobs 4 --partition gpu

Each SLURM job runs one worker process with one GPU; TensorFlow uses it when it sees it.
The same thing from the command line, given a scheduler you started yourself:
``ames-batch run PLATE --scheduler tcp://HOST:8786``.
"""

import argparse
from pathlib import Path

from ames_batch.pipeline import run_plate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plate", type=Path)
    parser.add_argument("--jobs", type=int, default=4, help="SLURM jobs = dask workers = GPUs")
    parser.add_argument("--partition", default="gpu")
    parser.add_argument("--walltime", default="02:00:00")
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()

    from dask_jobqueue import SLURMCluster
    from distributed import Client

    cluster = SLURMCluster(
        queue=args.partition, cores=4, processes=1, memory="32GB", walltime=args.walltime,
        job_extra_directives=["--gres=gpu:1"],
    )
    cluster.scale(jobs=args.jobs)
    with Client(cluster) as client:
        client.wait_for_workers(1)
        report = run_plate(args.plate, model=args.model, scheduler=client.scheduler.address)
    cluster.close()
    print(f"{report.csv}: {report.n_cells} cells, {len(report.failed)} failed fields")
    raise SystemExit(1 if report.failed else 0)


if __name__ == "__main__":  # dask clusters start processes: keep the guard
    main()
