"""``client()``: a dask.distributed client of a new local cluster or of a running scheduler."""

from __future__ import annotations

from .._checks import check_int
from ..io._optional import require

__all__ = ["client"]


def client(address=None, *, n_workers: int | None = None,
           threads_per_worker: int | None = None, processes: bool = True,
           timeout: float = 10.0, **cluster_kwargs):
    """A ``dask.distributed`` client: of a new local cluster, or of a running scheduler.

    Parameters
    ----------
    address : None, "local", str or a cluster object
        None or ``"local"``: start a ``LocalCluster`` on this machine (closed with the
        client). A scheduler address such as ``"tcp://host:8786"``: connect to a cluster
        started with ``dask scheduler`` and ``dask worker`` (see the README, "Distributed").
        A cluster object (e.g. ``LocalCluster``, a dask-jobqueue cluster): connect to it.
    n_workers, threads_per_worker : int, optional
        For a local cluster: worker processes (default 2) and threads each (default 1).
    processes : bool
        For a local cluster: workers in their own processes (default) or as threads of this
        one (no pickling, but every worker shares this process's memory and GIL).
    timeout : float
        Seconds to wait for a remote scheduler.
    **cluster_kwargs
        Passed to ``LocalCluster`` (e.g. ``memory_limit="4GiB"``,
        ``dashboard_address=":8787"``; by default the dashboard listens on a free port of
        this machine only: ``client.dashboard_link``).

    Returns
    -------
    distributed.Client
        Close it with ``client.close()`` (a local cluster it started closes with it), or
        use it in a ``with`` block.

    Raises
    ------
    ImportError
        ``distributed`` is not installed (the message says how to install it).
    TypeError
        Local-cluster options with a remote address, or an address of another type.
    OSError
        No scheduler answered at ``address`` within ``timeout``.
    """
    distributed = require("distributed", "the distributed engine (ew.client)")
    if address is None or (isinstance(address, str) and address == "local"):
        n = check_int(2 if n_workers is None else n_workers, "n_workers", low=1)
        t = check_int(1 if threads_per_worker is None else threads_per_worker,
                      "threads_per_worker", low=1)
        if not isinstance(processes, bool):
            raise TypeError(f"processes must be True or False, got {processes!r}")
        cluster_kwargs.setdefault("dashboard_address", "127.0.0.1:0")   # a free local port
        return distributed.Client(n_workers=n, threads_per_worker=t, processes=processes,
                                  **cluster_kwargs)
    local_only = {"n_workers": n_workers, "threads_per_worker": threads_per_worker,
                  **cluster_kwargs}
    given = sorted(k for k, v in local_only.items() if v is not None)
    if given or processes is not True:
        raise TypeError(f"{', '.join(given) or 'processes'} apply to a local cluster (address "
                        f"None or 'local'); the workers of the scheduler at {address!r} are "
                        "the ones started there with `dask worker`")
    if isinstance(address, str):
        if ":" not in address:
            raise ValueError(f"a scheduler address looks like 'tcp://host:8786', got "
                             f"{address!r}")
        try:
            return distributed.Client(address, timeout=timeout)
        except OSError as exc:
            raise OSError(f"no dask scheduler answered at {address!r} within {timeout} s; "
                          "start one there with `dask scheduler` (and workers with `dask "
                          "worker <address>`), or check the address and the firewall") from exc
    if hasattr(address, "scheduler_address"):
        return distributed.Client(address, timeout=timeout)
    raise TypeError(f"address must be None, 'local', a scheduler address such as "
                    f"'tcp://host:8786' or a dask cluster object, got {type(address).__name__}")

