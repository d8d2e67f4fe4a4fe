"""speedtest-cli's measuring engine pointed at a portal, without speedtest.net.

speedtest-cli always downloads speedtest.net's configuration first; this subclass supplies
that configuration itself, so the engine runs against any "Speedtest Mini" server, such as
the portal's /speedtest/ endpoints, on a network without internet access.
"""

from __future__ import annotations

from dataclasses import dataclass

import speedtest


class OfflineSpeedtest(speedtest.Speedtest):
    def __init__(self, seconds: float = 10, **kwargs):
        self._seconds = seconds
        super().__init__(**kwargs)

    def get_config(self):
        self.config.update({
            "client": {"ip": "", "isp": "", "lat": "0", "lon": "0", "country": ""},
            "ignore_servers": [],
            "sizes": {"upload": [524288, 1048576, 7340032],
                      "download": [350, 500, 750, 1000, 1500, 2000, 2500, 3000, 3500, 4000]},
            "counts": {"upload": 17, "download": 4},
            "threads": {"upload": 2, "download": 8},
            "length": {"upload": self._seconds, "download": self._seconds},
            "upload_max": 51,
        })
        self.lat_lon = (0.0, 0.0)
        return self.config


@dataclass
class LinkMeasurement:
    download_bps: float
    upload_bps: float
    ping_ms: float


def measure(url: str, *, seconds: float = 10, timeout: float = 10) -> LinkMeasurement:
    """Measure download, upload and ping between this machine and the portal at `url`."""
    test = OfflineSpeedtest(seconds=seconds, timeout=timeout)
    # get_best_server() without arguments would look for speedtest.net's server list.
    test.get_best_server(test.set_mini_server(url))
    test.download()
    test.upload()
    results = test.results
    return LinkMeasurement(results.download, results.upload, results.ping)
