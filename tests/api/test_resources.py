"""POST/GET/PATCH/DELETE /resources and GET /tasks: rules, tokens, idempotency."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlmodel import Session, func, select

from slices_bi.catalog.models import Resource, ResourceStatus, ResourceUserData, Task
from tests.api.conftest import SSH_KEY, bearer, request_body


def _count(session: Session) -> tuple[int, int]:
    session.expire_all()
    return (
        session.exec(select(func.count()).select_from(Resource)).one(),
        session.exec(select(func.count()).select_from(Task)).one(),
    )


def _post(client, tokens, body, token=None):
    return client.post("/resources", json=body, headers=bearer(token or tokens.experiment()))


class TestRequest:
    def test_accepted_request_is_stored_and_handed_to_prefect(
        self, client, tokens, image, flavor, session, launcher
    ):
        body = request_body(
            image,
            flavor,
            tokens,
            resources=[
                {
                    "friendly_name": "vm1",
                    "disk_image_id": image.id,
                    "flavor_id": flavor.id,
                    "userdata": "#cloud-config\npackages: [htop]\n",
                },
                {
                    "friendly_name": "vm2",
                    "disk_image_id": image.id,
                    "flavor_id": flavor.id,
                    "public_ipv4": True,
                },
            ],
        )
        response = _post(client, tokens, body)
        assert response.status_code == 200, response.text
        task = response.json()
        assert task["id"].startswith("task_tld-city-bp1_")
        assert (task["kind"], task["status"], task["completed"]) == ("provision", "pending", 0)
        assert len(task["resource_ids"]) == 2
        assert launcher.submitted == [task["id"]]

        rows = {r.friendly_name: r for r in session.exec(select(Resource))}
        assert rows["vm2"].public_ipv4
        assert rows["vm1"].status == ResourceStatus.PENDING
        assert rows["vm1"].network_name == "private"
        payload = session.get(ResourceUserData, rows["vm1"].id).payload
        assert "packages" in payload
        assert SSH_KEY.split()[1] in payload

        listed = client.get("/resources", headers=bearer(tokens.experiment())).json()
        assert sorted(r["friendly_name"] for r in listed["data"]) == ["vm1", "vm2"]
        assert client.get("/resources", headers=bearer(tokens.user())).json()["count"] == 2
        shown = client.get(f"/resources/{rows['vm1'].id}", headers=bearer(tokens.user()))
        assert shown.json()["experiment_id"] == tokens.experiment_id
        assert (
            client.get(f"/tasks/{task['id']}", headers=bearer(tokens.experiment())).json()["id"]
            == task["id"]
        )

    def test_same_request_id_and_body_returns_the_first_task(
        self, client, tokens, image, flavor, session
    ):
        body = request_body(image, flavor, tokens)
        first = _post(client, tokens, body).json()
        body["tokens"] = [{"jwt": tokens.user()}]  # a fresh token is still the same request
        again = _post(client, tokens, body)
        assert again.status_code == 200
        assert again.json()["id"] == first["id"]
        assert _count(session) == (1, 1)

    def test_same_request_id_with_another_body_is_a_conflict(
        self, client, tokens, image, flavor, session
    ):
        body = request_body(image, flavor, tokens)
        _post(client, tokens, body)
        body["resources"][0]["friendly_name"] = "other"
        response = _post(client, tokens, body)
        assert response.status_code == 409
        assert response.json()["error"] == "request_id_reused"
        assert _count(session) == (1, 1)

    def test_friendly_name_in_use_is_a_conflict(self, client, tokens, image, flavor, session):
        _post(client, tokens, request_body(image, flavor, tokens))
        response = _post(client, tokens, request_body(image, flavor, tokens))
        assert response.status_code == 409
        assert "resources[0].friendly_name" in response.json()["detail"]
        assert _count(session) == (1, 1)


def _far() -> str:
    return (datetime.now(UTC) + timedelta(days=200)).isoformat()


BAD_BODIES = [
    (
        "unknown image",
        lambda b: b["resources"][0].update(
            disk_image_id="image_tld-city-bp1_01jdem0000000000000000000000"
        ),
        422,
        "resources[0].disk_image_id",
    ),
    (
        "unknown flavor",
        lambda b: b["resources"][0].update(flavor_id="nope"),
        422,
        "resources[0].flavor_id",
    ),
    (
        "expiry in the past",
        lambda b: b.update(expires_at="2020-01-01T00:00:00Z"),
        422,
        "expires_at",
    ),
    (
        "expiry beyond the experiment",
        lambda b: b.update(expires_at=(datetime.now(UTC) + timedelta(days=45)).isoformat()),
        422,
        "experiment's expiry",
    ),
    (
        "expiry without a time zone",
        lambda b: b.update(expires_at="2030-01-01T00:00:00"),
        422,
        "expires_at",
    ),
    (
        "oversized user data",
        lambda b: b["resources"][0].update(
            userdata="#!/bin/sh\n" + base64.b64encode(bytes(60000)).decode()
        ),
        422,
        "65535",
    ),
    (
        "malformed ssh key",
        lambda b: b.update(ssh_authorized_keys=["ssh-rsa AAAAnotakey me"]),
        422,
        "ssh_authorized_keys[0]",
    ),
    (
        "bad cloud-config",
        lambda b: b["resources"][0].update(userdata="#cloud-config\n: : :\n  - ["),
        422,
        "resources[0].userdata",
    ),
    (
        "impossible date in cloud-config",
        lambda b: b["resources"][0].update(userdata="#cloud-config\nwhen: 2024-13-45\n"),
        422,
        "resources[0].userdata",
    ),
    (
        "bad tag in cloud-config",
        lambda b: b["resources"][0].update(userdata="#cloud-config\na: !!int x\n"),
        422,
        "resources[0].userdata",
    ),
    (
        "deeply nested cloud-config",
        lambda b: b["resources"][0].update(userdata="#cloud-config\n" + "[" * 3000 + "]" * 3000),
        422,
        "resources[0].userdata",
    ),
    (
        "NUL in user data",
        lambda b: b["resources"][0].update(userdata="#!/bin/sh\necho \u0000"),
        422,
        "resources[0].userdata",
    ),
    (
        "bad friendly name",
        lambda b: b["resources"][0].update(friendly_name="no spaces please"),
        422,
        "resources[0].friendly_name",
    ),
    ("missing resources", lambda b: b.pop("resources"), 422, "resources"),
    (
        "public_ipv4 as a string",
        lambda b: b["resources"][0].update(public_ipv4="yes"),
        422,
        "resources[0].public_ipv4",
    ),
    (
        "public_ipv4 as a number",
        lambda b: b["resources"][0].update(public_ipv4=1),
        422,
        "resources[0].public_ipv4",
    ),
    (
        "expiry as a Unix time",
        lambda b: b.update(expires_at=int(datetime.now(UTC).timestamp()) + 86400),
        422,
        "expires_at",
    ),
    (
        "control character in a network name",
        lambda b: b["resources"][0].update(network_name="net\u0007"),
        422,
        "resources[0].network_name",
    ),
    ("unknown field", lambda b: b.update(colour="blue"), 422, "colour"),
    ("bad request id", lambda b: b.update(request_id="not-a-uuid"), 422, "request_id"),
    ("no user token", lambda b: b.update(tokens=[]), 422, "tokens"),
    (
        "forged user token",
        lambda b: b.update(tokens=[{"jwt": "e30.e30.AAAA"}]),
        401,
        "tokens[0].jwt",
    ),
    (
        "two interfaces",
        lambda b: b["resources"][0].update(
            network_interfaces=[{"network_name": "a"}, {"network_name": "b"}]
        ),
        422,
        "network_interfaces",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "status", "names"), [b[1:] for b in BAD_BODIES], ids=[b[0] for b in BAD_BODIES]
)
def test_bad_request_gets_a_4xx_naming_the_field_and_writes_nothing(
    client, tokens, image, flavor, session, launcher, mutate, status, names
):
    body = request_body(image, flavor, tokens)
    mutate(body)
    response = _post(client, tokens, body)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error", "detail"}
    assert names in response.json()["detail"]
    assert _count(session) == (0, 0)
    assert launcher.submitted == []


def test_image_too_big_for_the_flavor_is_refused(client, tokens, image, flavor, session):
    image.min_disk_mb = 20480
    flavor.disk_mb = 10240
    session.add_all([image, flavor])
    session.commit()
    response = _post(client, tokens, request_body(image, flavor, tokens))
    assert response.status_code == 422
    assert response.json()["error"] == "flavor_too_small"
    assert "20480 MB" in response.json()["detail"]
    image.min_disk_mb, image.min_ram_mib = 0, 4096
    session.add(image)
    session.commit()
    response = _post(client, tokens, request_body(image, flavor, tokens))
    assert response.status_code == 422
    assert "4096 MiB" in response.json()["detail"]
    assert _count(session) == (0, 0)


def test_expiry_beyond_the_site_maximum_is_refused(client, tokens, image, flavor, session):
    body = request_body(image, flavor, tokens, expires_at=_far())
    response = _post(client, tokens, body, token=tokens.experiment(days=400))
    assert response.status_code == 422
    assert "89 days" in response.json()["detail"]
    assert _count(session) == (0, 0)


def test_nul_characters_are_refused_everywhere(client, tokens, image, flavor, session):
    for path in ("/resources/%00", "/tasks/%00", "/disk-images/%00", "/flavors/x%00"):
        response = client.get(path, headers=bearer(tokens.experiment()))
        assert response.status_code in (404, 422), (path, response.text)
        assert set(response.json()) == {"error", "detail"}
    body = request_body(image, flavor, tokens)
    body["resources"][0]["disk_image_id"] = "image\u0000x"
    body["resources"][0]["network_name"] = "net\u0000"
    response = _post(client, tokens, body)
    assert response.status_code == 422
    assert _count(session) == (0, 0)


def test_an_oversized_body_is_refused_before_it_is_read(client, tokens, image, flavor, session):
    body = request_body(image, flavor, tokens)
    body["resources"][0]["userdata"] = "#!/bin/sh\n" + "x" * (3 * 1024 * 1024)
    response = _post(client, tokens, body)
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
    assert _count(session) == (0, 0)


def test_malformed_json_is_a_400(client, tokens):
    response = client.post(
        "/resources",
        content=b"{not json",
        headers={**bearer(tokens.experiment()), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"


class TestTokens:
    def test_user_token_cannot_write(self, client, tokens, image, flavor, session):
        response = _post(client, tokens, request_body(image, flavor, tokens), token=tokens.user())
        assert response.status_code == 403
        assert response.json()["error"] == "experiment_token_required"
        assert _count(session) == (0, 0)

    def test_a_token_living_thirty_years_is_refused(self, client, settings):
        from slices_bi.auth import mint_user_token

        token = mint_user_token(settings, user_id="user_test_x", ttl_seconds=30 * 365 * 86400)
        response = client.get("/resources", headers=bearer(token))
        assert response.status_code == 401
        assert response.json()["error"] == "token_lifetime"

    def test_missing_and_garbage_tokens_are_401(self, client, tokens, image, flavor, session):
        body = request_body(image, flavor, tokens)
        assert client.post("/resources", json=body).status_code == 401
        assert client.post("/resources", json=body, headers=bearer("a.b.c")).status_code == 401
        assert _count(session) == (0, 0)

    def test_another_experiments_ids_answer_exactly_like_unknown_ids(
        self, client, tokens, image, flavor
    ):
        task = _post(client, tokens, request_body(image, flavor, tokens)).json()
        resource_id, task_id = task["resource_ids"][0], task["id"]
        unknown_resource, unknown_task = resource_id[:-4] + "zzzz", task_id[:-4] + "zzzz"
        other_experiment = bearer(
            tokens.experiment(experiment_id="exp_test_someoneelse", user_id="user_test_other")
        )
        other_user = bearer(tokens.user("user_test_other"))

        def answers(target: str, task_target: str, headers: dict) -> list[tuple[int, dict]]:
            calls = [
                client.get(f"/resources/{target}", headers=headers),
                client.get(f"/tasks/{task_target}", headers=headers),
            ]
            if headers is other_experiment:
                calls += [
                    client.delete(f"/resources/{target}", headers=headers),
                    client.patch(
                        f"/resources/{target}", json={"expires_at": _far()}, headers=headers
                    ),
                ]
            return [
                (r.status_code, {**r.json(), "detail": r.json()["detail"].replace(target, "ID")})
                for r in calls
            ]

        for headers in (other_experiment, other_user):
            theirs = answers(resource_id, task_id, headers)
            unknown = answers(unknown_resource, unknown_task, headers)
            # Task ids differ from resource ids: compare the task answer with its own pair.
            theirs[1] = (
                theirs[1][0],
                {**theirs[1][1], "detail": theirs[1][1]["detail"].replace(task_id, "ID")},
            )
            unknown[1] = (
                unknown[1][0],
                {**unknown[1][1], "detail": unknown[1][1]["detail"].replace(unknown_task, "ID")},
            )
            assert theirs == unknown
            assert {status for status, _ in theirs} == {404}
        assert client.get("/resources", headers=other_experiment).json()["count"] == 0
        assert client.get("/resources", headers=other_user).json()["count"] == 0
        assert (
            client.get(f"/resources/{resource_id}", headers=bearer(tokens.experiment())).json()[
                "status"
            ]
            == "pending"
        )

    def test_the_body_token_must_be_the_experiment_tokens_user(
        self, client, tokens, image, flavor, session
    ):
        body = request_body(image, flavor, tokens)
        body["tokens"] = [{"jwt": tokens.user("user_test_y")}]
        response = _post(client, tokens, body)
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "token_user_mismatch"
        assert "tokens[0].jwt" in response.json()["detail"]
        assert _count(session) == (0, 0)

    def test_without_a_user_claim_the_body_token_names_the_owner(
        self, client, tokens, image, flavor, session, settings
    ):
        from slices_bi.auth import mint_experiment_token

        # Minted with the user under another claim name: the API sees no user claim.
        anonymous = mint_experiment_token(
            settings.model_copy(update={"experiment_user_claim": "someone"}),
            experiment_id=tokens.experiment_id,
            experiment_expires_at=datetime.now(UTC) + timedelta(days=30),
        )
        assert "user_id" not in jwt.decode(anonymous, options={"verify_signature": False})
        body = request_body(image, flavor, tokens)
        body["tokens"] = [{"jwt": tokens.user("user_test_y")}]
        response = _post(client, tokens, body, token=anonymous)
        assert response.status_code == 200, response.text
        [row] = session.exec(select(Resource)).all()
        assert row.user_id == "user_test_y"


class TestExtendAndDelete:
    def test_extend_moves_expiry_later_only(self, client, tokens, image, flavor):
        task = _post(client, tokens, request_body(image, flavor, tokens)).json()
        resource_id = task["resource_ids"][0]
        later = (datetime.now(UTC) + timedelta(days=5)).isoformat()
        response = client.patch(
            f"/resources/{resource_id}",
            json={"expires_at": later},
            headers=bearer(tokens.experiment()),
        )
        assert response.status_code == 200
        assert datetime.fromisoformat(response.json()["expires_at"]) == datetime.fromisoformat(
            later
        )
        earlier = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
        response = client.patch(
            f"/resources/{resource_id}",
            json={"expires_at": earlier},
            headers=bearer(tokens.experiment()),
        )
        assert response.status_code == 422
        assert "only be extended" in response.json()["detail"]
        beyond = (datetime.now(UTC) + timedelta(days=40)).isoformat()
        clamped = client.patch(
            f"/resources/{resource_id}",
            json={"expires_at": beyond},
            headers=bearer(tokens.experiment()),
        )
        assert clamped.status_code == 200  # granted up to the experiment's expiry (30 days)
        assert clamped.json()["extension"]["limited_by"] == "experiment_expiry"
        assert clamped.json()["expires_at"] < beyond

    def test_delete_answers_with_one_delete_task(
        self, client, tokens, image, flavor, launcher, session
    ):
        task = _post(client, tokens, request_body(image, flavor, tokens)).json()
        resource_id = task["resource_ids"][0]
        first = client.delete(f"/resources/{resource_id}", headers=bearer(tokens.experiment()))
        assert first.status_code == 200
        assert first.json()["kind"] == "delete"
        again = client.delete(f"/resources/{resource_id}", headers=bearer(tokens.experiment()))
        assert again.json()["id"] == first.json()["id"]
        assert (
            client.get(f"/resources/{resource_id}", headers=bearer(tokens.experiment())).json()[
                "status"
            ]
            == "deleting"
        )
        assert launcher.submitted.count(first.json()["id"]) == 2
        assert _count(session) == (1, 2)

    def test_unknown_ids_are_404(self, client, tokens):
        for path in ("/resources/res_nope", "/tasks/task_nope"):
            response = client.get(path, headers=bearer(tokens.experiment()))
            assert response.status_code == 404
            assert set(response.json()) == {"error", "detail"}
        assert (
            client.delete("/resources/res_nope", headers=bearer(tokens.experiment())).status_code
            == 404
        )
