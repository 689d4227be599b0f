"""A person's own preferences: the language their pages are shown in."""

from sqlmodel import Session

from partnerflow.models import User
from partnerflow.spec import Language


def set_language(session: Session, user: User, language: Language | None) -> User:
    """`de` or `en` for every browser the user signs in with; None follows each browser's
    `Accept-Language`."""
    row = session.get(User, user.id)
    assert row is not None  # the caller signed in as this user a moment ago
    row.language = language
    session.add(row)
    session.commit()
    session.refresh(row)
    return row
