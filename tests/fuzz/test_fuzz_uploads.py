"""Fuzzing visit-history uploads and check-ins: bad input is refused clearly, and stores nothing.

``upload_history`` takes a whole batch or none of it; ``CheckInService`` answers each
check-in with a receipt or a chaincut error. Neither may crash on what a phone sends:
arbitrary records, times out of range or without an offset, unknown tokens and plates,
duplicated client ids. The store runs on the embedded default (``embedded_services``)
and is shared by the examples of one test, so a refusal must leave it as it was.
"""

# ruff: noqa: PT017 - a fuzzed call may succeed or be refused, so pytest.raises does not fit

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaincut.bootstrap import Services
from chaincut.errors import BatchRejected, ChaincutError, InvalidInput, NotFound
from chaincut.people import PersonDraft
from chaincut.venues.registry import VenueDraft
from chaincut.venues.tokens import VenueClaims, VenueTokenSigner, generate_signing_key, key_id_for
from chaincut.whereabouts.checkin import CheckInRequest
from chaincut.whereabouts.uploads import UploadedVisit, upload_history

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PEOPLE = ["P-1", "P-2"]
CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}")
STRANGER_KEY = generate_signing_key()


class World:
    """A store with two people, a restaurant and a taxi, and tokens genuine and not."""

    def __init__(self, services: Services) -> None:
        self.services = services
        for ref in PEOPLE:
            services.people.register(PersonDraft(ref=ref))
        restaurant = services.venues.register(
            VenueDraft("restaurant", "Tsui Wah", "翠華", ref="V-REST", district="Central")
        )
        services.venues.register(VenueDraft("taxi", "Taxi", "的士", ref="V-TAXI", plate="AB1234"))
        self.token = services.venues.token(restaurant)
        now = services.clock.now()
        unregistered = VenueClaims("01HZZZZZZZZZZZZZZZZZZZZZZZ", "restaurant", now.replace(microsecond=0))
        self.unregistered_token = services.venues._signer.sign(unregistered)  # type: ignore[attr-defined]
        self.forged_token = VenueTokenSigner(STRANGER_KEY, key_id_for(STRANGER_KEY.public_key())).sign(
            VenueClaims(restaurant.public_id, "restaurant", now.replace(microsecond=0))
        )
        self.now = now


@pytest.fixture
def world(embedded_services: Services) -> World:
    return World(embedded_services)


def instants(now: datetime) -> st.SearchStrategy[datetime]:
    """Times a phone might send: near now, anywhere at all, with odd offsets, or naive."""
    offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
    near = st.integers(-40 * 24 * 3600, 3600).map(lambda s: now + timedelta(seconds=s))
    anywhere = st.datetimes(timezones=st.none() | offsets | st.just(now.tzinfo))
    return st.one_of(
        near,
        near.flatmap(lambda t: offsets.map(t.astimezone)),
        near.map(lambda t: t.replace(tzinfo=None)),
        anywhere,
    )


def venue_refs(world: World) -> st.SearchStrategy[dict[str, str | None]]:
    token = st.sampled_from([world.token, world.unregistered_token, world.forged_token]) | st.text(
        max_size=80
    )
    mutated = st.tuples(st.integers(0, len(world.token)), st.text(max_size=3)).map(
        lambda cut: world.token[: cut[0]] + cut[1] + world.token[cut[0] + 1 :]
    )
    plate = st.sampled_from(["AB1234", "ab 1234", " A B 1 2 3 4\n", "ZZ9999", ""]) | st.text(max_size=20)
    return st.one_of(
        st.fixed_dictionaries({"token": token | mutated, "plate": st.none()}),
        st.fixed_dictionaries({"token": st.none(), "plate": plate}),
        st.fixed_dictionaries({"token": st.none() | token, "plate": st.none() | plate}),
    )


def client_ids() -> st.SearchStrategy[str]:
    return st.sampled_from(["c-1", "c-2", "c-1\n", "", "-x", "a" * 65]) | st.text(max_size=70)


def visits_stored(services: Services) -> int:
    return services.store.counts().visits


@FUZZ
@given(data=st.data())
def test_an_upload_is_stored_whole_or_refused_whole(world: World, data: st.DataObject) -> None:
    services = world.services
    record = st.builds(
        lambda where, entered, left, client_id: UploadedVisit(
            entered_at=entered, left_at=left, client_id=client_id, **where
        ),
        venue_refs(world),
        instants(world.now),
        st.none() | instants(world.now),
        st.none() | client_ids(),
    )
    records = data.draw(st.lists(record, max_size=12))
    person = data.draw(st.sampled_from(PEOPLE) | st.text(max_size=70))
    before = visits_stored(services)
    try:
        receipt = upload_history(
            services.store, services.policy, services.clock, services.verifier, person, records
        )
    except ChaincutError as exc:
        assert isinstance(exc, InvalidInput | NotFound), repr(exc)
        assert exc.field or isinstance(exc, BatchRejected), repr(exc)
        if isinstance(exc, BatchRejected):
            assert exc.errors
            for error in exc.errors:
                assert error.field and error.index is not None and 0 <= error.index < len(records)
        assert visits_stored(services) == before, "a refused upload stored something"
        return
    assert receipt.stored + receipt.already_stored == len(records)
    assert visits_stored(services) == before + receipt.stored
    for record in records:
        if record.client_id is not None:
            assert CLIENT_ID.fullmatch(record.client_id), f"stored client_id {record.client_id!r}"


@FUZZ
@given(data=st.data())
def test_a_check_in_is_recorded_or_refused_clearly(world: World, data: st.DataObject) -> None:
    services = world.services
    where = data.draw(venue_refs(world))
    request = CheckInRequest(
        person_ref=data.draw(st.sampled_from(PEOPLE) | st.text(max_size=70)),
        client_id=data.draw(client_ids()),
        at=data.draw(st.none() | instants(world.now)),
        **where,
    )
    before = visits_stored(services)
    try:
        receipt = services.checkins.check_in(request)
    except ChaincutError as exc:
        assert exc.field, repr(exc)
        assert visits_stored(services) == before, "a refused check-in stored something"
        return
    assert CLIENT_ID.fullmatch(receipt.client_id), f"accepted client_id {receipt.client_id!r}"
    assert receipt.venue.ref in {"V-REST", "V-TAXI"}
    assert visits_stored(services) in (before, before + 1)


@FUZZ
@given(data=st.data())
def test_a_group_of_check_ins_answers_each_on_its_own(world: World, data: st.DataObject) -> None:
    services = world.services
    requests = [
        CheckInRequest(
            person_ref=data.draw(st.sampled_from(PEOPLE) | st.text(max_size=10)),
            client_id=data.draw(client_ids()),
            at=data.draw(st.none() | instants(world.now)),
            **data.draw(venue_refs(world)),
        )
        for _ in range(data.draw(st.integers(1, 6)))
    ]
    outcomes = services.checkins.check_in_many(requests)
    assert len(outcomes) == len(requests)
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            assert isinstance(outcome, ChaincutError), repr(outcome)


@FUZZ
@given(data=st.data())
def test_a_check_out_is_recorded_or_refused_clearly(world: World, data: st.DataObject) -> None:
    services = world.services
    services.checkins.check_in(CheckInRequest("P-1", "out-1", token=world.token))
    try:
        services.checkins.check_out(
            data.draw(st.sampled_from(PEOPLE) | st.text(max_size=70)),
            data.draw(st.just("out-1") | client_ids()),
            data.draw(st.none() | instants(world.now)),
        )
    except ChaincutError as exc:
        assert exc.field, repr(exc)
