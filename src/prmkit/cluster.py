"""The Ray runtime prmkit runs on: a local one bound to 127.0.0.1, or a cluster the user names.

``ray_runtime(address)`` is a context manager. With no address it starts a local Ray runtime and shuts it down
when the block ends. That runtime is closed to the network: its node address, GCS, raylet, object store and
workers all listen on 127.0.0.1, and the dashboard is off. Usage statistics are off too. Token
authentication stays on (``RAY_AUTH_MODE=token`` unless the user set it). Ray picks the
machine's own address by default; ``ray.init(_node_ip_address="127.0.0.1")`` does not change that in Ray
2.60, because ``services.resolve_ip_for_localhost`` swaps loopback for the machine's address. What works is
Ray's own single-machine mode, the one it uses on macOS and Windows (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``).
Its node address is then loopback, and every process it starts inherits the setting. The runtime is
checked after start-up and refused if its node address is not loopback.

With ``address`` (``ray://...``, ``HOST:PORT`` or ``auto``) it connects to that cluster and disconnects at the
end. Nothing is started and nothing is shut down. Reaching another machine is always explicit. If Ray is
already initialised in this process (a notebook, a test's session cluster), that runtime is used as it is.

Ray is an extra (``pip install 'prmkit[ray]'``). This module imports it only when called.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Optional

__all__ = ["ray_runtime", "is_loopback", "check_room", "LOCAL_ENV", "RETRIES"]

RETRIES = 3  # restarts of a dead actor and retries of its task (annotation chunks, scoring); Ray Data's default: forever

# set before Ray is imported (its constants read them once), inherited by every process a local runtime starts;
# RAY_AUTH_MODE=token is Ray 2.60's default said out loud, so Ray does not print that it chose it
LOCAL_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token"}


def is_loopback(ip: str) -> bool:
    """Whether ``ip`` is a loopback address, IPv4-mapped IPv6 (``::ffff:127.0.0.1``) included."""
    addr = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback


def _import_ray(local: bool) -> Any:
    if local:
        for key, value in LOCAL_ENV.items():
            os.environ.setdefault(key, value)
    already = "ray" in sys.modules
    try:
        import ray
    except ImportError as e:
        raise ImportError("the ray executor needs Ray: pip install 'prmkit[ray]'") from e
    if local and already:  # imported before the settings above: its constants are fixed, set this one directly
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] != "0"
    return ray


@contextmanager
def ray_runtime(address: Optional[str] = None, *, num_cpus: Optional[int] = None, **init: Any) -> Iterator[Any]:
    """Ray, initialised for the ``with`` block; yields the ``ray`` module.

    Args:
        address: a cluster to connect to; ``None`` starts a local runtime on 127.0.0.1 (see the module docstring).
        num_cpus: CPUs of a local runtime (all of this machine's by default).
        init: more ``ray.init`` keywords (``object_store_memory``, ``_temp_dir``, ...).

    Raises:
        RuntimeError: the local runtime's node address is not loopback (it is shut down first).
    """
    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        yield sys.modules["ray"]
        return
    ray = _import_ray(local=address is None)
    options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False, **init}
    if address is None:
        ray.init(include_dashboard=False, num_cpus=num_cpus, **options)
        ip = ray.util.get_node_ip_address()
        if not is_loopback(ip):
            ray.shutdown()
            raise RuntimeError(f"the local Ray runtime bound to {ip}, not 127.0.0.1; it was shut down. Start Ray "
                               f"yourself ('ray start --head --node-ip-address 127.0.0.1') and pass --ray-address")
    else:
        ray.init(address=address, **options)
    try:
        yield ray
    finally:
        ray.shutdown()


def check_room(ray: Any, workers: int, num_gpus: float = 0) -> None:
    """Refuse a pool of ``workers`` actors (1 CPU and ``num_gpus`` GPUs each) the cluster cannot hold: Ray
    would wait for the missing resources forever. On an autoscaling cluster, start the nodes first."""
    have = ray.cluster_resources()
    for what, need in (("CPU", workers), ("GPU", workers * num_gpus)):
        if need > have.get(what, 0):
            raise ValueError(f"--workers {workers} needs {need:g} {what}(s) and the Ray cluster has "
                             f"{have.get(what, 0):g}; use fewer workers or a bigger cluster")
