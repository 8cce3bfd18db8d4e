"""Users (argon2-hashed passwords, one role each) and API keys (only their SHA-256 is kept)."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.errors import Conflict, NotAuthenticated, ValidationError
from store.models.core import ROLES, ApiKey, User

_hasher = PasswordHasher()
MIN_PASSWORD = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def add_user(session: Session, username: str, password: str, role: str, *, now: datetime, language: str | None = None) -> User:
    if role not in ROLES:
        raise ValidationError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if not username or len(username) > 80:
        raise ValidationError("a username of 1 to 80 characters is required")
    if len(password) < MIN_PASSWORD:
        raise ValidationError(f"a password needs at least {MIN_PASSWORD} characters")
    if session.scalars(select(User).where(User.username == username)).first():
        raise Conflict(f"user {username!r} already exists")
    user = User(username=username, password_hash=hash_password(password), role=role, language=language, active=True, created_at=now)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User:
    """The user, or NotAuthenticated with one message for every failure (no user enumeration)."""
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None or not user.active:
        _hasher.hash("x" * 12)  # same cost as a real check
        raise NotAuthenticated("wrong username or password")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise NotAuthenticated("wrong username or password") from None
    return user


def count_users(session: Session) -> int:
    return len(session.scalars(select(User.id)).all())


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, name: str, *, now: datetime) -> str:
    """Make a key for a field system; the plain key is returned once and never stored."""
    if session.scalars(select(ApiKey).where(ApiKey.name == name)).first():
        raise Conflict(f"an API key named {name!r} already exists")
    key = "cok_" + secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, key_hash=_key_hash(key), created_at=now))
    session.flush()
    return key


def check_api_key(session: Session, key: str | None) -> ApiKey:
    if not key:
        raise NotAuthenticated("an X-API-Key header is required")
    found = session.scalars(select(ApiKey).where(ApiKey.key_hash == _key_hash(key))).first()
    if found is None or found.revoked_at is not None:
        raise NotAuthenticated("the API key is not valid")
    return found


def set_language(session: Session, username: str, language: str) -> None:
    """Remember a user's screen language (the console's ko/en switch)."""
    if language not in ("ko", "en"):
        raise ValidationError(f"unknown language {language!r}; one of ko, en")
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is not None:
        user.language = language
