"""obstore against fsspec/s3fs as the client of a store on object storage (issue 16, item 1):
the same writes and reads through each, side by side, alternately, median of ``--repeat``::

    python bench/object_store.py [--points 2e7] [--markers 1000] [--repeat 3] [--out FILE]

The server is moto's S3-API server (``moto_server``, its own process on the loopback
interface), so the figures are the client's cost plus a Python server's: they rank the
clients on this machine, they are not S3's speed. Measured per client:

- ``write``: a Dataset of two float32 outputs over ``--points`` points, in the chunks
  `sweep run` would choose, by ``Dataset.to_zarr`` through ``zarr.storage.ObjectStore``
  (obstore) or ``zarr.storage.FsspecStore`` (s3fs);
- ``read``: the same arrays read back whole;
- ``ledger``: ``--markers`` small JSON objects written, listed and read back (the
  completion markers of a run), through each client's own calls;
- ``import``: a new process importing the client and making one (start-up cost).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _server() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    moto = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, endpoint
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto_server did not start")


def _dataset(points: float):
    import dask.array as da
    import numpy as np
    import xarray as xr

    sys.path.insert(0, str(ROOT))
    from sweep.benchmark.grid import grid_spec
    from sweep.planning.planner import make_plan
    from sweep.spec.config import spec_from_dict

    spec = spec_from_dict(grid_spec(points))
    plan = make_plan(spec, "unused.zarr")
    rng = da.random.default_rng(0)
    data = {name: (plan.dims, rng.random(plan.shape, chunks=plan.chunk_shape,
                                         dtype=np.float32))
            for name in ("usd_per_mtok", "tokens_per_s_per_mw")}
    return xr.Dataset(data), plan


def _stores(bucket: str, name: str, endpoint: str):
    from obstore.store import from_url
    from zarr.storage import FsspecStore, ObjectStore

    url = f"s3://{bucket}/{name}"
    return {
        "obstore": ObjectStore(from_url(url, client_options={"allow_http": True})),
        "fsspec": FsspecStore.from_url(url, storage_options={"endpoint_url": endpoint}),
    }


def _ledger(client: str, bucket: str, prefix: str, endpoint: str, n: int) -> float:
    """Write, list and read ``n`` marker-sized objects; seconds."""
    body = json.dumps({"key": [0, 0, 0], "digest": {"a": "crc32:00000000"},
                       "outputs": {"a": {"nan_count": 0, "min": 0.1, "max": 9.9}}}).encode()
    names = [f"_sweep_chunks/{i}.0.0.json" for i in range(n)]
    t0 = time.perf_counter()
    if client == "obstore":
        import obstore
        from obstore.store import from_url

        st = from_url(f"s3://{bucket}/{prefix}", client_options={"allow_http": True})
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda k: obstore.put(st, k, body), names))
            listed = [o["path"] for page in obstore.list(st, prefix="_sweep_chunks")
                      for o in page]
            got = list(pool.map(lambda k: bytes(obstore.get(st, k).bytes()), listed))
    else:
        import s3fs

        fs = s3fs.S3FileSystem(endpoint_url=endpoint, use_listings_cache=False)
        root = f"{bucket}/{prefix}"
        fs.pipe({f"{root}/{k}": body for k in names})
        listed = fs.ls(f"{root}/_sweep_chunks", detail=False)
        got = list(fs.cat(listed).values())
    seconds = time.perf_counter() - t0
    assert len(got) == n and all(g == body for g in got), (client, len(got))
    return seconds


def _import_seconds(client: str, endpoint: str) -> float:
    code = {"obstore": "from obstore.store import from_url; "
                       "from_url('s3://b/x', client_options={'allow_http': True})",
            "fsspec": f"import s3fs; s3fs.S3FileSystem(endpoint_url={endpoint!r})"}[client]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=float, default=2e7)
    parser.add_argument("--markers", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import boto3
    import numpy as np
    import xarray as xr

    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_REGION": "us-east-1"})
    server, endpoint = _server()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        ds, plan = _dataset(args.points)
        ds = ds.persist()   # the values exist before the clock starts: only writing is timed
        times: dict[str, dict[str, list[float]]] = {
            c: {"write": [], "read": [], "ledger": [], "import": []}
            for c in ("obstore", "fsspec")}
        for r in range(args.repeat):
            order = ("obstore", "fsspec") if r % 2 == 0 else ("fsspec", "obstore")
            for client in order:
                name = f"{client}-{r}.zarr"
                store = _stores(bucket, name, endpoint)[client]
                t0 = time.perf_counter()
                ds.to_zarr(store, mode="w", zarr_format=3, consolidated=False)
                times[client]["write"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                back = xr.open_zarr(store, consolidated=False).compute()
                times[client]["read"].append(time.perf_counter() - t0)
                np.testing.assert_array_equal(back["usd_per_mtok"].values,
                                              ds["usd_per_mtok"].values)
                times[client]["ledger"].append(
                    _ledger(client, bucket, f"ledger-{client}-{r}", endpoint, args.markers))
                times[client]["import"].append(_import_seconds(client, endpoint))
    finally:
        server.kill()
    nbytes = sum(v.nbytes for v in ds.data_vars.values())
    report = {
        "points": plan.n_points, "bytes": nbytes, "chunks": list(plan.chunk_shape),
        "n_chunks": plan.n_chunks, "markers": args.markers, "repeat": args.repeat,
        "median_s": {c: {k: round(statistics.median(v), 3) for k, v in t.items()}
                     for c, t in times.items()},
        "runs_s": {c: {k: [round(x, 3) for x in v] for k, v in t.items()}
                   for c, t in times.items()},
    }
    med = report["median_s"]
    report["fsspec_over_obstore"] = {k: round(med["fsspec"][k] / med["obstore"][k], 2)
                                     for k in med["obstore"]}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
