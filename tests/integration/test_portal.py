"""The department portal over HTTP (Starlette's TestClient on the real application, the real
embedded warehouse and the real pipeline): what a clerk sees, and every security rule, each
checked so that breaking it fails a test."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from starlette.testclient import TestClient

from pipelines.config import Settings, settings
from pipelines.landing.drops import detect_drops
from pipelines.portal.app import build_app
from pipelines.runner import ingest, warehouse
from pipelines.warehouse import Warehouse, ledger
from tests.conftest import set_yitu_env
from tests.integration.portal_helpers import (
    ACCOUNTS,
    add_accounts,
    csrf_of,
    served,
    sign_in,
    upload,
)

LIMIT = 1024**2  # the tests' upload limit: the samples fit, a few MiB do not


@dataclass
class Portal:
    settings: Settings
    wh: Warehouse
    clients: dict[str, TestClient]
    drops: dict[str, str] = field(default_factory=dict)  # login -> drop id of its upload
    uploads: dict[str, str] = field(default_factory=dict)  # login -> /uploads/... link
    seen: dict[str, str] = field(default_factory=dict)  # stage -> page text

    def app(self, **kw: object) -> TestClient:
        return TestClient(build_app(self.settings, self.wh, max_upload_bytes=LIMIT,
                                    trusted_proxies=["testclient"], **kw))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Iterator[Portal]:
    with pytest.MonkeyPatch.context() as mp:
        set_yitu_env(mp, tmp_path_factory.mktemp("portal") / "home", None)
        s = settings()
        wh = warehouse(s)
        add_accounts(wh)
        p = Portal(s, wh, {})
        p.clients = {login: p.app() for login in ACCOUNTS}
        for login, client in p.clients.items():
            assert sign_in(client, login) == 303
        for login, dataset, file, name in [
                ("amr", "licenses", "licenses.xlsx", "营业执照 11月.xlsx"),
                ("agri", "farmland_hsf", "farmland_hsf.gpkg", "高标准农田.gpkg"),
                ("hotline", "complaints", "complaints.csv", "工单.csv")]:
            p.uploads[login] = upload(p.clients[login], dataset, sample_dir / file, name)
        p.seen["received"] = p.clients["amr"].get(p.uploads["amr"]).text
        detect_drops(s, wh)  # what the watcher does first: archive, ledger, pending
        p.seen["processing"] = p.clients["amr"].get(p.uploads["amr"]).text
        ingest(s)  # and then: answer every pending drop
        for login in ("amr", "agri", "hotline"):
            r = p.clients[login].get(p.uploads[login], follow_redirects=False)
            assert r.status_code == 303
            p.drops[login] = r.headers["location"].rsplit("/", 1)[1]
        yield p


def test_a_drop_goes_received_processing_then_answered(portal: Portal) -> None:
    assert "已收到" in portal.seen["received"] and 'http-equiv="refresh"' in portal.seen["received"]
    assert "处理中" in portal.seen["processing"]
    page = portal.clients["amr"].get(f"/drops/{portal.drops['amr']}").text
    assert "已入库" in page and "营业执照 11月.xlsx" in page
    counts = re.findall(r"<th>[^<]+</th><td>(\d+)</td>", page)
    assert counts == ["800", "776", "24", "16"]  # read, loaded, quarantined, flagged
    assert "编号重复" in page or "不在代码表中" in page  # reasons per rule, in Chinese
    assert "与上次报送相比：新增 776 条" in page
    assert f"/drops/{portal.drops['amr']}/files/answer.xlsx" in page


def test_the_department_page_has_cadence_next_due_and_history(portal: Portal) -> None:
    home = portal.clients["amr"].get("/").text
    assert "证照" in home and "每周" in home and "按时" in home
    assert portal.drops["amr"] in home
    page = portal.clients["amr"].get("/datasets/licenses").text
    received = ledger.get_drop(portal.wh, portal.drops["amr"]).received_at
    due = (received + timedelta(days=7)).astimezone(ZoneInfo("Asia/Shanghai"))
    assert f'<span id="next-due">{due:%Y-%m-%d}</span>' in page
    assert "Excel 工作簿" in page and "CSV" in page


def test_the_template_and_the_workbook_download(portal: Portal) -> None:
    amr = portal.clients["amr"]
    t = amr.get("/datasets/licenses/template.xlsx")
    assert t.status_code == 200 and t.content[:2] == b"PK"
    w = amr.get(f"/drops/{portal.drops['amr']}/files/answer.xlsx")
    assert w.status_code == 200 and w.content[:2] == b"PK"
    assert "attachment" in w.headers["content-disposition"]


def test_another_departments_things_are_404(portal: Portal) -> None:
    amr, theirs = portal.clients["amr"], portal.drops["agri"]
    assert (portal.settings.quarantine / "farmland_hsf" / theirs / "answer.xlsx").is_file()
    for url in [f"/drops/{theirs}", f"/drops/{theirs}/files/answer.xlsx",
                f"/drops/{theirs}/files/rejections.csv", portal.uploads["agri"],
                "/datasets/farmland_hsf", "/datasets/farmland_hsf/template.xlsx",
                f"/drops/{portal.drops['amr']}/files/..%2F..%2F..%2Fportal.key",
                f"/drops/{portal.drops['amr']}/files/..%2F{theirs}%2Fanswer.xlsx",
                f"/drops/{portal.drops['amr']}/files/manifest.json",
                f"/drops/{theirs.replace('farmland_hsf', 'licenses')}",  # a guessed id
                "/datasets/..%2Fschemas", "/uploads/" + "0" * 32]:
        r = amr.get(url, follow_redirects=False)
        assert r.status_code == 404, url
        assert theirs not in r.text
    assert theirs not in amr.get("/").text and "高标准农田" not in amr.get("/").text
    r = amr.post("/datasets/farmland_hsf/upload", files={"file": ("a.csv", b"x,y\n")},
                 data={"csrf": csrf_of(amr.get("/").text)})
    assert r.status_code == 404
    # a monitor reads every department but delivers for none
    watcher = portal.clients["watcher"]
    assert watcher.get(f"/drops/{portal.drops['amr']}").status_code == 200
    assert watcher.get(f"/drops/{theirs}/files/answer.xlsx").status_code == 200
    assert 'type="file"' not in watcher.get("/datasets/farmland_hsf").text


def test_no_personal_data_on_any_page(portal: Portal, sample_dir: Path) -> None:
    orders = pd.read_csv(sample_dir / "complaints.csv", dtype=str, encoding="gb18030")
    personal = [c for c in orders.columns if c in ("LDRXM", "LDRDH", "LDRZJHM", "来电人姓名",
                                                    "来电人电话", "联系电话", "来电人证件号码")]
    assert len(personal) == 3, orders.columns.tolist()
    values = {v for c in personal for v in orders[c].dropna() if len(v) >= 2}
    hotline = portal.clients["hotline"]
    pages = [hotline.get(u).text for u in ("/", "/datasets/complaints",
                                           f"/drops/{portal.drops['hotline']}")]
    assert "已入库" in pages[2] and "问题示例" in pages[2]
    for page in pages:
        assert not [v for v in values if v in page]


def test_security_headers_on_every_response(portal: Portal) -> None:
    amr = portal.clients["amr"]
    for r in [amr.get("/"), amr.get("/login"), amr.get("/static/portal.css"),
              amr.get("/drops/nope"), amr.get(f"/drops/{portal.drops['amr']}/files/answer.xlsx")]:
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert "unsafe-inline" not in csp and "script-src" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
    assert "<script" not in amr.get("/").text and "style=" not in amr.get("/").text


def test_session_cookie_flags(portal: Portal) -> None:
    def cookie_of(client: TestClient, headers: dict[str, str] | None = None) -> str:
        token = csrf_of(client.get("/login").text)
        r = client.post("/login", data={"login": "amr", "password": "correct horse battery",
                                        "csrf": token}, headers=headers, follow_redirects=False)
        assert r.status_code == 303
        return str(r.headers["set-cookie"]).lower()

    plain = cookie_of(portal.app())
    assert "httponly" in plain and "samesite=strict" in plain and "secure" not in plain
    tls = {"x-forwarded-proto": "https"}
    assert "; secure" in cookie_of(portal.app(), tls)  # from the trusted proxy
    untrusted = TestClient(build_app(portal.settings, portal.wh, trusted_proxies=["10.0.0.1"]))
    assert "secure" not in cookie_of(untrusted, tls)  # anyone else cannot claim TLS
    # told it is only reached over TLS: Secure from the first cookie on, whatever it hears
    first = portal.app(secure_cookies=True).get("/login").headers["set-cookie"].lower()
    assert "; secure" in first and "httponly" in first


def test_every_form_needs_its_csrf_token(portal: Portal, sample_dir: Path) -> None:
    fresh = portal.app()
    fresh.get("/login")
    r = fresh.post("/login", data={"login": "amr", "password": "correct horse battery"},
                   follow_redirects=False)
    assert r.status_code == 403
    amr = portal.clients["amr"]
    before = sorted(portal.settings.landing.rglob("*"))
    r = amr.post("/datasets/licenses/upload", data={"csrf": "forged"},
                 files={"file": ("l.xlsx", (sample_dir / "licenses.xlsx").read_bytes())})
    assert r.status_code == 403 and sorted(portal.settings.landing.rglob("*")) == before
    assert amr.post("/logout", data={}, follow_redirects=False).status_code == 403
    stuffed = {f"f{i}": "x" for i in range(50)}
    assert amr.post("/logout", data=stuffed, follow_redirects=False).status_code == 400
    assert amr.post("/login", content=b"a=" + b"x" * 20_000,
                    headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 413
    assert amr.get("/", follow_redirects=False).status_code == 200  # still signed in


def test_sign_in_locks_a_login_and_an_address(portal: Portal) -> None:
    from pipelines.accounts import add_account

    add_account(portal.wh, "locked", "市场监督管理局", "clerk", "correct horse battery")
    client, other = portal.app(), {"x-forwarded-for": "10.1.1.1"}
    for _ in range(5):
        assert sign_in(client, "locked", "wrong password!", other) == 401
    assert sign_in(client, "locked", headers=other) == 429  # the right password, too late
    assert sign_in(portal.app(), "locked", headers={"x-forwarded-for": "10.1.1.2"}) == 429
    # kept in the warehouse: a restarted portal still refuses
    assert sign_in(portal.app(), "locked", headers={"x-forwarded-for": "10.1.1.3"}) == 429
    # one address trying many logins is locked whatever login it tries next
    spray = {"x-forwarded-for": "10.2.2.2"}
    for i in range(20):
        assert sign_in(client, f"guess{i}", "wrong password!", spray) == 401
    assert sign_in(portal.app(), "amr", headers=spray) == 429
    assert sign_in(portal.app(), "amr", headers={"x-forwarded-for": "10.2.2.3"}) == 303


def test_a_disabled_account_is_signed_out(portal: Portal) -> None:
    from pipelines.accounts import add_account, disable_account

    add_account(portal.wh, "leaver", "市场监督管理局", "clerk", "correct horse battery")
    client = portal.app()
    assert sign_in(client, "leaver") == 303 and client.get("/").status_code == 200
    disable_account(portal.wh, "leaver")
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert sign_in(portal.app(), "leaver") == 401


def _multipart(token: str, name: str, body: Iterator[bytes]) -> Iterator[bytes]:
    yield (f'--B\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{token}\r\n'
           f'--B\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
           "Content-Type: text/csv\r\n\r\n").encode()
    yield from body
    yield b"\r\n--B--\r\n"


def _leftovers(portal: Portal) -> list[Path]:
    return [p for p in (portal.settings.scratch / "portal-uploads").glob("*")]


def test_the_size_limit_holds_while_streaming(portal: Portal) -> None:
    amr = portal.clients["amr"]
    token = csrf_of(amr.get("/datasets/licenses").text)
    landing = sorted(portal.settings.landing.rglob("*"))
    # a declared length past the limit: refused before the body is read
    r = amr.post("/datasets/licenses/upload", content=b"x" * (3 * LIMIT),
                 headers={"content-type": "multipart/form-data; boundary=B"})
    assert r.status_code == 413 and "文件过大" in r.text
    # chunked, no length, on a real server: answered 413 once past the limit, long before
    # the 64 MiB the client would send (what it managed to send is the socket buffers' worth)
    cookie = amr.cookies.get("yitu_portal")
    app = build_app(portal.settings, portal.wh, max_upload_bytes=LIMIT)
    with served(app) as base:
        host, port = base.removeprefix("http://").split(":")
        conn = socket.create_connection((host, int(port)))
        conn.sendall((f"POST /datasets/licenses/upload HTTP/1.1\r\nHost: {host}:{port}\r\n"
                      f"Cookie: yitu_portal={cookie}\r\nTransfer-Encoding: chunked\r\n"
                      "Content-Type: multipart/form-data; boundary=B\r\n\r\n").encode())
        sent, chunk = 0, b"a,b\n" * 16384
        try:
            for part in _multipart(token, "big.csv", iter([chunk] * 1024)):
                conn.sendall(b"%x\r\n%s\r\n" % (len(part), part))
                sent += len(part)
        except (BrokenPipeError, ConnectionResetError):
            pass
        conn.settimeout(10)
        head = conn.recv(4096)
        conn.close()
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert sent < 32 * 1024**2, sent
    assert sorted(portal.settings.landing.rglob("*")) == landing and not _leftovers(portal)


def test_the_file_name_is_never_a_path_and_content_decides_the_format(
        portal: Portal, sample_dir: Path) -> None:
    amr = portal.clients["amr"]
    link = upload(amr, "licenses", sample_dir / "licenses.xlsx",
                  name="../../../../../tmp/evil.csv", content_type="text/csv")
    up = amr.get(link).text
    assert "evil.xlsx" in up  # the name shown: its last part, printable, the format found
    landed = sorted(p.name for p in (portal.settings.landing / "licenses").iterdir())
    assert len(landed) == 2 and all(re.fullmatch(r"portal-[0-9a-f]{32}\.xlsx(\.ready)?", n)
                                    for n in landed), landed
    assert not Path("/tmp/evil.csv").exists() and not Path("/tmp/evil.xlsx").exists()
    [rec] = detect_drops(portal.settings, portal.wh, "licenses")
    # the same bytes as the first upload: answered as a duplicate, loaded once
    assert rec.state == "duplicate" and rec.duplicate_of == portal.drops["amr"]
    assert rec.file == "evil.xlsx"
    page = amr.get(link).text
    assert "重复报送" in page and portal.drops["amr"] in page

    before = sorted(portal.settings.landing.rglob("*"))
    token = csrf_of(amr.get("/datasets/licenses").text)
    refused: list[bytes] = []
    for name, body, why in [
            ("licenses.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "旧版 Excel"),
            ("licenses.xlsx", bytes(range(256)) * 8, "无法识别的文件格式"),
            ("data.zip", _zip_of({"readme.txt": b"hello"}), "没有 Shapefile"),
            ("x.gpkg", b"SQLite format 3\x00" + b"\0" * 200, "不是 GeoPackage")]:
        r = amr.post("/datasets/licenses/upload", data={"csrf": token},
                     files={"file": (name, body, XLSX_TYPE)})
        assert r.status_code == 415 and why in r.text, (name, r.text[:300])
        refused.append(body)
    assert sorted(portal.settings.landing.rglob("*")) == before and not _leftovers(portal)
    # nothing a department sent is lost: each refused file archived whole, with who and why
    kept = sorted((portal.settings.raw / "portal-refused" / "licenses").rglob("*.bin"),
                  key=lambda p: p.stat().st_mtime_ns)
    assert [p.read_bytes() for p in kept] == refused
    notes = [json.loads(p.with_suffix(".json").read_text("utf-8")) for p in kept]
    assert [n["login"] for n in notes] == ["amr"] * 4, notes
    assert "旧版 Excel" in notes[0]["reason"] and notes[3]["file"] == "x"


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _zip_of(members: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()
