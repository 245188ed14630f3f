"""The web app against its own OpenAPI schema, fuzzed with schemathesis through the real
server: every operation the schema lists (the API and the pages) is called with generated
requests, valid and invalid, by an administrator (a bearer token) and by the public (no
credentials). No answer may be a server error, and every answer must be one the schema
declares: its status code, its media type, its headers and its body.

Hypothesis draws the requests from schemathesis's strategies directly: schemathesis's own
pytest integration for a schema that comes from a fixture (`schemathesis.pytest.from_fixture`,
needed to reach a server started by a fixture) fails on pytest 9.2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ringfence.store import open_store
from ringfence.web import create_app
from ringfence.web.accounts import issue_token

# The fixture is module-scoped: this module gets a server of its own, so what the fuzzing
# writes (ingested rows, actions, cycle runs, revoked sessions) reaches no other test.
from .test_web_access import FASTAPI_OWN_ROUTES, Server, server  # noqa: F401  (the fixture)

CALLERS = {
    "admin": {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 4},
    "public": {GenerationMode.POSITIVE: 5, GenerationMode.NEGATIVE: 2},
}
"""Who fuzzes, and how many requests per operation of valid and of invalid data: enough to
reach every parameter's edges, few enough to keep the module well under a minute in CI.
The administrator may call every API route (with a bearer token, as a machine client
would, so that fuzzing logout or revoke-sessions cannot log it out). The public is refused
before its request is read on all but a few operations (most without parameters): fewer
requests show that the refusal is declared too."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
"""The schema is the contract: no 5xx, and no status, media type, header or body it does
not declare. Checks that need more than the schema (that a valid request is accepted, an
invalid one refused, access enforced) are the role-matrix tests' job."""

SLOW = {"POST /api/cycle": 2, "POST /login": 5}
"""Operations whose requests are slow by nature (a cycle run takes seconds; a login hashes
the password with argon2): a few requests only."""

FUZZ = settings(
    max_examples=1,  # replaced per kind of data
    deadline=None,  # a page or a cycle run may take a second on a slow runner
    derandomize=True,  # the same requests on every run: a failure in CI is reproducible
    database=None,
    # No shrinking: a failing request is reported as generated (with its curl command);
    # shrinking every failure would multiply the run time while findings are open.
    phases=(Phase.explicit, Phase.generate),
    # Every example is a request to a server; some operations have few distinct requests
    # (no parameters): neither is an error.
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)

MOUNTS = {"static", "report_static"}
"""Static files: mounted, not operations, so not in the schema."""


@pytest.fixture(scope="module")
def api_schema(server: Server) -> BaseSchema:  # noqa: F811
    """The schema as a client sees it: fetched from the running server. The configuration
    is explicit, so a `schemathesis.toml` in a parent folder changes nothing."""
    # A cycle run takes seconds, more on a busy runner: schemathesis's 10 s would fail it.
    config = schemathesis.Config.from_dict({"request-timeout": 120})
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=config)


def credentials(server: Server, caller: str) -> dict[str, str]:  # noqa: F811
    """The headers a caller sends: a bearer token for a user, nothing for the public."""
    if caller == "public":
        return {}
    return {"Authorization": f"Bearer {issue_token(server.store, caller, 'schema fuzzing')}"}


Operation = APIOperation[Any, Any, Any, Any]


def operations_of(schema: BaseSchema) -> list[Operation]:
    """Every operation of the schema."""
    found = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # an operation the schema defines wrongly
            raise result.err()
        found.append(result.ok())
    return found


def fuzz(
    operation: Operation, mode: GenerationMode, examples: int, headers: dict[str, str]
) -> None:
    """Call `operation` with up to `examples` generated requests of `mode`; raise on the
    first failed check."""

    @settings(FUZZ, max_examples=min(examples, SLOW.get(operation.label, examples)))
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: Case[Operation]) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        call()
    except Unsatisfiable:
        # No invalid request exists: no parameters, no body, or only unconstrained strings
        # in the path. Anything else is an error of the test.
        if mode is not GenerationMode.NEGATIVE:
            raise


def reports(error: BaseException) -> list[str]:
    """What failed, one report per failed request (with its curl command); an error that is
    not a failed check (the server gone, a bug of the test) is raised."""
    if isinstance(error, FailureGroup):
        return [str(error)]
    if isinstance(error, BaseExceptionGroup):  # Hypothesis: distinct failures of one operation
        return [text for inner in error.exceptions for text in reports(inner)]
    if isinstance(error, AssertionError):
        return [str(error)]
    raise error


def test_every_answer_is_one_the_schema_declares(
    server: Server,  # noqa: F811
    api_schema: BaseSchema,
) -> None:
    operations = operations_of(api_schema)
    assert operations
    failures: list[str] = []
    # One test for both callers: one server to build, however pytest-xdist splits the tests.
    # Every operation is fuzzed even when one fails: the report lists all that fail.
    for caller, examples in CALLERS.items():
        headers = credentials(server, caller)
        for operation in operations:
            for mode, count in examples.items():
                try:
                    fuzz(operation, mode, count, headers)
                except (AssertionError, BaseExceptionGroup) as error:
                    failures += [f"{caller}: {operation.label}, {mode.value} data: {text}"
                                 for text in reports(error)]  # fmt: skip
    assert not failures, f"{len(failures)} failed:\n\n" + "\n\n".join(failures)


def test_no_route_is_left_out_of_the_schema(tmp_path: Path) -> None:
    # A route hidden from the schema (include_in_schema=False) would escape the fuzzing.
    with open_store(str(tmp_path / "empty.duckdb"), create=True) as store:
        app = create_app(store)
        routes = {
            (method, getattr(route, "path", ""))
            for route in app.routes
            if getattr(route, "name", "") not in FASTAPI_OWN_ROUTES | MOUNTS
            for method in getattr(route, "methods", None) or ()
            if method != "HEAD"
        }
        listed = {(method.upper(), path) for path, item in app.openapi()["paths"].items()
                  for method in item}  # fmt: skip
    assert routes == listed
