"""Failed log-ins, for the pages' log-in and the admin's: LOGIN_FAILURE_LIMIT per user name and
LOGIN_FAILURE_LIMIT_PER_ADDRESS per client address in a sliding window of LOGIN_LOCKOUT_SECONDS.

Counted in the database, so that every web process sees one count; an attempt is recorded before its
password is checked, under a lock per name and address, so attempts sent at once cannot all get past the
limit while the slow password hash runs.
"""

import ipaddress
import unicodedata
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from .models import LoginFailure

# The first key of PostgreSQL's advisory locks (two-int form) that order attempts at one name or address.
_LOCK_NAME, _LOCK_ADDRESS = 0x4C4F4731, 0x4C4F4732


class LoginLocked(Exception):
    """Too many failed log-ins for this name or from this address: the password must not be checked."""


def login_name_normalise(username: str) -> str:
    """The name as the log-in form reads it (stripped, NFKC, like Django's UsernameField), casefolded:
    every spelling that could reach the same account shares one count."""
    return unicodedata.normalize("NFKC", (username or "").strip()).casefold()


def login_address_normalise(address: str) -> str:
    """An IPv4 address as is; an IPv6 one as its /64, which one subscriber usually holds whole."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return (address or "").strip()
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _hash(salt: str, value: str) -> str:
    # Keyed, so that the short list of likely names cannot be hashed to read the table back.
    return salted_hmac(f"chats.lockout.{salt}", value, algorithm="sha256").hexdigest()


def _name_hash(username: str) -> str:
    return _hash("name", login_name_normalise(username))


def _address_hash(address: str) -> str:
    address = login_address_normalise(address)
    return _hash("address", address) if address else ""


def _lock(kind: int, key_hash: str) -> None:
    """Waits for other attempts at the same key to be recorded. SQLite needs nothing: its transactions here
    are IMMEDIATE (settings), which already lets one writer in at a time."""
    if connection.vendor == "postgresql":
        key = int(key_hash[:8], 16) - 2**31
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s::integer, %s::integer)", [kind, key])


def login_attempt_begin(*, username: str, address: str) -> None:
    """Records an attempt to log in as `username` from `address`, or raises LoginLocked when the name or the
    address already has its limit of failures in the window. Call it before the password is checked.

    The attempt counts as a failure from now on (a crash while checking included); login_succeeded takes it
    back. Call it outside a transaction: the record must be committed for other processes to count it.
    """
    window_start = timezone.now() - timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    # Old rows go as new ones come: one indexed delete, usually of nothing.
    LoginFailure.objects.filter(created_at__lte=window_start).delete()

    name_hash = _name_hash(username)
    address_limit = settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS
    address_hash = _address_hash(address) if address_limit else ""
    with transaction.atomic():
        # Always the name first, then the address: two attempts can never wait for each other in a circle.
        _lock(_LOCK_NAME, name_hash)
        counted = Q(name_hash=name_hash)
        if address_hash:
            _lock(_LOCK_ADDRESS, address_hash)
            counted |= Q(address_hash=address_hash)
        counts = LoginFailure.objects.filter(counted, created_at__gt=window_start).aggregate(
            name=Count("pk", filter=Q(name_hash=name_hash)),
            address=Count("pk", filter=Q(address_hash=address_hash)),
        )
        if counts["name"] >= settings.LOGIN_FAILURE_LIMIT or (address_hash and counts["address"] >= address_limit):
            raise LoginLocked
        LoginFailure.objects.create(name_hash=name_hash, address_hash=address_hash)


def login_succeeded(*, username: str) -> None:
    """The password was right: the name's failures (from any address) are forgotten."""
    LoginFailure.objects.filter(name_hash=_name_hash(username)).delete()
