"""Local HTTP servers that speak the Zalo, eSMS, SpeedSMS and signed-webhook wire formats, for tests (see
README.md).
"""

from tests.fakes.base import Failure, FakeServer
from tests.fakes.esms import EsmsFake
from tests.fakes.speedsms import SpeedSmsFake
from tests.fakes.webhook import WebhookReceiver
from tests.fakes.zalo import ZaloFake

__all__ = ["EsmsFake", "Failure", "FakeServer", "SpeedSmsFake", "WebhookReceiver", "ZaloFake"]
