"""What every benchmark records about the machine it ran on, so its figures can be compared."""

from __future__ import annotations

import os
import platform


def machine(*, with_torch: bool = True) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    # The load average says whether other work shared the cores while the figures were taken.
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "load_average_1min": round(os.getloadavg()[0], 2)}
    if with_torch:
        import torch

        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    return info
