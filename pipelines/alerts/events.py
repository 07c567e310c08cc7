"""What is worth telling someone: a file refused, a delivery late or missing, a county whose
permanent farmland shrank, a county-quarter below a target. Each event has a stable key (the
same event found again on the next run has the same key, so it is sent once), its message in
Chinese, and who it goes to: the monitors always, the department's clerks when it is theirs.

Messages name the file, dataset and county and say what to do; never a row's values (personal
data stays out of mail and webhooks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from pipelines.contracts import Contact, Contract, all_contracts, load_layer, load_region
from pipelines.integrate.assessment import LAYER as ASSESSMENT
from pipelines.integrate.assessment import local, quarter_of
from pipelines.reasons import file_reasons
from pipelines.report.facts import pbf_shrinkage
from pipelines.report.timeliness import CADENCE_LABELS, DELIVERY_STATES, judge
from pipelines.warehouse import Warehouse, ledger
from pipelines.warehouse.ledger import DropRecord

SUBJECT_PREFIX = "【一图数据监测】"
REASONS_SHOWN = 3  # whole-file reasons quoted in a message; the workbook has them all
IDS_SHOWN = 10  # removed parcel ids quoted
SIGNATURE = "（本邮件由一图 yitu 数据监测自动发送，请勿直接回复。）"


@dataclass(frozen=True)
class Event:
    key: str  # stable: "<kind>:<what it is about>"
    kind: str  # rejected, failed, late, missing, pbf_shrunk, below_target
    subject: str
    body: str
    recipients: tuple[Contact, ...]
    facts: dict[str, str]  # what the webhook carries beside the text: dataset, file, county…

    def payload(self) -> dict[str, object]:
        return {"key": self.key, "kind": self.kind, "subject": self.subject, "body": self.body,
                **self.facts}


def _people(contract: Contract | None) -> tuple[Contact, ...]:
    """The department's clerks (if any) and the monitors, each address once."""
    found = [*(contract.contacts if contract else ()), *load_region().monitors]
    return tuple({c.email: c for c in found}.values())


def _stamp(moment: datetime) -> str:
    return str(local(pd.Series([moment])).iloc[0].strftime("%Y-%m-%d %H:%M"))


def _event(key: str, kind: str, subject: str, lines: list[str], recipients: tuple[Contact, ...],
           **facts: str) -> Event:
    return Event(key, kind, SUBJECT_PREFIX + subject, "\n".join([*lines, "", SIGNATURE]),
                 recipients, facts)


def refused(contract: Contract, drop: DropRecord) -> Event:
    """A file refused whole (its department must fix and resend it), or one whose answer
    crashed (not the file's fault: the monitors retry it)."""
    where = [f"数据集：{contract.title}（{contract.dataset}）", f"报送部门：{contract.department}",
             f"文件：{drop.file}", f"接收时间：{_stamp(drop.received_at)}（编号 {drop.drop_id}）"]
    if drop.state == "failed":
        return _event(f"failed:{drop.drop_id}", "failed", f"文件处理出错：{drop.file}",
                      [*where, "", "处理该文件时系统出错，不是文件本身的问题。",
                       f"处理办法：数据组排查后执行 yitu run --retry {drop.drop_id} 重新处理。"],
                      tuple(load_region().monitors), dataset=contract.dataset, file=drop.file,
                      drop_id=drop.drop_id)
    reasons = [r.message for r in file_reasons(drop.errors)][:REASONS_SHOWN]
    return _event(f"rejected:{drop.drop_id}", "rejected", f"文件被退回：{drop.file}",
                  [*where, "", "该文件未入库，原因：", *(f"  - {m}" for m in reasons or ["见退回报告"]),
                   "", "处理办法：请按退回工作簿中标出的单元格修改后，使用报送模板重新报送"
                   f"（yitu template {contract.dataset}）。"],
                  _people(contract), dataset=contract.dataset, file=drop.file,
                  drop_id=drop.drop_id)


def overdue(contract: Contract, deliveries: list[DropRecord], now: datetime) -> Event | None:
    """A dataset whose next delivery is past due by its cadence, or never delivered."""
    t = judge(contract.cadence, [d.received_at for d in deliveries], now)
    where = [f"数据集：{contract.title}（{contract.dataset}）", f"报送部门：{contract.department}",
             f"报送周期：{CADENCE_LABELS.get(contract.cadence, contract.cadence)}"]
    todo = "处理办法：请尽快通过报送门户或落地目录报送最新数据。"
    if t.status == "missing":
        return _event(f"missing:{contract.dataset}", "missing", f"尚未报送：{contract.title}",
                      [*where, "", "至今未收到该数据集的任何报送。", todo], _people(contract),
                      dataset=contract.dataset)
    if t.status == "late" and t.expected_next is not None:
        due = _stamp(t.expected_next)[:10]
        return _event(f"late:{contract.dataset}:{due}", "late",
                      f"报送逾期：{contract.title}",
                      [*where, f"上次报送：{_stamp(t.last_delivery or t.expected_next)}",
                       f"应于 {due} 前报送，已逾期 {t.days_late} 天。", "", todo],
                      _people(contract), dataset=contract.dataset, due=due)
    return None


def shrunk(wh: Warehouse, drops: list[DropRecord]) -> list[Event]:
    """Each county whose permanent farmland the latest farmland delivery made smaller."""
    found = pbf_shrinkage(wh, drops)
    if not found:
        return []
    contract = next((c for c in all_contracts() if c.watch_shrinkage), None)
    events = []
    for county in found["counties"]:
        code, name = county["county_code"], county["county_name"] or county["county_code"]
        ids = [str(i) for i in county["removed_ids"][:IDS_SHOWN]]
        events.append(_event(
            f"pbf_shrunk:{found['drop_id']}:{code}", "pbf_shrunk",
            f"永久基本农田减少：{name}",
            [f"县（市、区）：{name}（{code}）", f"文件：{found['file']}（编号 {found['drop_id']}）",
             f"减少面积：{county['area_lost_mu']} 亩；移出图斑 {county['parcels_removed']} 个",
             *([f"移出图斑编号（前 {len(ids)} 个）：{'、'.join(ids)}"] if ids else []), "",
             "永久基本农田一经划定不得擅自调整。处理办法：请核实减少是否有批准文件；"
             "如为报送错误，请更正后重新报送。"],
            _people(contract), county_code=code, drop_id=found["drop_id"]))
    return events


def below_target(wh: Warehouse, now: datetime) -> list[Event]:
    """Each county whose ended quarter missed one of the region's targets (the quarter still
    running is judged when it ends, as the quarterly assessment is)."""
    if ASSESSMENT not in wh.published_layers():
        return []
    rows = pd.DataFrame(wh.read_published(ASSESSMENT))
    current = str(quarter_of(local(pd.Series([now]))).iloc[0])
    labels = {c.name: c.label for c in load_layer(ASSESSMENT).columns}
    events = []
    for r in rows[rows["quarter"] < current].sort_values(["quarter", "county_code"]).itertuples():
        missed = [(rate, target) for rate, target, met in (
            ("satisfaction_rate", "satisfaction_target", r.satisfaction_met),
            ("resolution_rate", "resolution_target", r.resolution_met),
            ("complaints_per_10k", "complaints_per_10k_target", r.complaints_per_10k_met))
            if met is not None and not pd.isna(met) and not bool(met)]
        if not missed:
            continue
        lines = [f"{labels[rate]}：{_figure(rate, getattr(r, rate))}（目标 "
                 f"{'≤' if rate == 'complaints_per_10k' else '≥'}"
                 f"{_figure(rate, getattr(r, target))}）" for rate, target in missed]
        events.append(_event(
            f"below_target:{r.county_code}:{r.quarter}", "below_target",
            f"{r.quarter} 未达标：{r.county_name}",
            [f"县（市、区）：{r.county_name}（{r.county_code}）", f"季度：{r.quarter}", "", *lines,
             "", "处理办法：请在本季度督查考核中核查未达标原因，督促承办单位整改。"],
            tuple(load_region().monitors), county_code=str(r.county_code), quarter=str(r.quarter)))
    return events


def _figure(rate: str, value: float) -> str:
    return f"{value:.2f}" if rate == "complaints_per_10k" else f"{100 * value:.1f}%"


def collect(wh: Warehouse, now: datetime) -> list[Event]:
    """Every event the warehouse shows now (sent ones included: the ledger filters them)."""
    drops = ledger.list_drops(wh)
    events: list[Event] = []
    for contract in all_contracts():
        mine = [d for d in drops if d.dataset == contract.dataset]
        events += [refused(contract, d) for d in mine if d.state in ("rejected", "failed")]
        late = overdue(contract, [d for d in mine if d.state in DELIVERY_STATES], now)
        events += [late] if late else []
    return events + shrunk(wh, drops) + below_target(wh, now)
