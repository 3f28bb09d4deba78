"""HTTP Basic auth for the API (--api-auth user:pass[,user2:pass2])."""

from __future__ import annotations

import secrets

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials


def basic_auth_dependency(credentials: dict[str, str]):
    """A FastAPI dependency that accepts any of the given users; compares in constant time."""
    security = HTTPBasic()

    def check(given: HTTPBasicCredentials = Depends(security)) -> str:
        ok = False
        for user, password in credentials.items():
            # Compare every pair fully so timing does not reveal which user exists.
            user_ok = secrets.compare_digest(given.username.encode(), user.encode())
            password_ok = secrets.compare_digest(given.password.encode(), password.encode())
            ok |= user_ok and password_ok
        if not ok:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "incorrect username or password",
                                headers={"WWW-Authenticate": "Basic"})
        return given.username

    return check
