"""greenmon's exception hierarchy.

Everything greenmon raises on purpose derives from :class:`GreenmonError`, so a
caller can catch one type. The subclasses say which side is at fault:

* :class:`InvalidInput` — data from outside (a payload, a CSV row, a setting) is
  wrong; the message names what and why. Readings that fail become dead letters.
* :class:`ServiceError` — a broker, database or local service misbehaved.
* :class:`FactorMissing` — no conversion or emission factor is valid at a time.
"""

from __future__ import annotations


class GreenmonError(Exception):
    """Base of every error greenmon raises on purpose."""


class InvalidInput(GreenmonError):
    """Input from outside greenmon is malformed or inconsistent."""


class InvalidReading(InvalidInput):
    """A meter reading (payload, topic or record) was refused; ``str()`` is the reason."""


class RegistryError(InvalidInput):
    """A meter-registry file has an unknown value; the message names the row and column."""


class ServiceError(GreenmonError):
    """A broker, the database or a local service failed or is unreachable."""


class FactorMissing(GreenmonError):
    """No factor is valid for a carrier at a timestamp: an explicit error, never a zero."""
