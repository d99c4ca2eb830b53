"""Everything the tests observe goes into one record, written at the end of the session to
`$APE_SAMPLE_RESULTS` (JSON), with the provider's name and, on pyevm-jit's provider, the JIT
statistics: the outer test compares the records of the stock and the JIT provider."""

import json
import os

import pytest

RECORD: dict = {}


@pytest.fixture
def record(request):
    entries = RECORD.setdefault(request.node.name, [])
    return entries.append


@pytest.fixture(scope="session")
def owner(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def token(project, owner):
    return project.Token.deploy("Jit Token", "JIT", 10**24, sender=owner)


@pytest.fixture(scope="session")
def compute(project, accounts):
    return project.Compute.deploy(sender=accounts[1])


def pytest_sessionfinish(session):
    path = os.environ.get("APE_SAMPLE_RESULTS")
    if not path:
        return
    from ape import chain

    provider = chain.provider
    jit = getattr(provider, "jit_backend", None)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(
            {
                "provider": provider.name,
                "record": RECORD,
                "jit": None if jit is None else jit.stats().as_dict(),
            },
            f,
            default=str,
        )
