"""The leaders' panels' texts in Vietnamese and English: units and periods, and the page's and exports' texts.

The page (dashboards.leaders) and the exports (dashboards.export) use these too; they live beside the figures.
"""

from __future__ import annotations

from ioc.i18n import register

STRINGS: dict[str, tuple[str, str]] = {
    "leaders.period.month": ("{month:02d}/{year}", "{month:02d}/{year}"),
    "leaders.period.quarter": ("Quý {quarter}/{year}", "Q{quarter} {year}"),
    "leaders.period.year": ("Năm {year}", "{year}"),
    "leaders.period.window": ("{period} ({months})", "{period} ({months})"),
    "leaders.period.so_far": ("{period} (đến nay)", "{period} (so far)"),
    "leaders.period.so_far_window": ("{period} (đến nay: {months})", "{period} (so far: {months})"),
    "leaders.period.months": ("tháng {first}-{last}", "months {first}-{last}"),
    "leaders.period.one_month": ("tháng {month}", "month {month}"),
    "leaders.granularity.month": ("Tháng", "Month"),
    "leaders.granularity.quarter": ("Quý", "Quarter"),
    "leaders.granularity.year": ("Năm", "Year"),
    "leaders.unit.pp": ("điểm %", "pp"),
    "leaders.unit.hours": ("giờ", "h"),
    "leaders.unit.days": ("ngày", "days"),
    "leaders.unit.VND": ("đồng", "VND"),
    "leaders.unit.score": ("điểm", "points"),
}
register(STRINGS)

PAGE_STRINGS: dict[str, tuple[str, str]] = {
    "leaders.title": ("Bảng điều hành lãnh đạo", "Leaders' panels"),
    "leaders.granularity": ("Kỳ báo cáo", "Period type"),
    "leaders.period": ("Kỳ", "Period"),
    "leaders.unit": ("Đơn vị", "Unit"),
    "leaders.kpi": ("Chỉ tiêu", "Indicator"),
    "leaders.no_source": (
        "Chưa cấu hình nguồn số liệu chỉ tiêu cho bảng điều hành.",
        "No KPI data source is configured for the leaders' panels.",
    ),
    "leaders.unavailable": (
        "Không đọc được số liệu chỉ tiêu (cơ sở dữ liệu không phản hồi). Thử lại sau ít phút.",
        "KPI figures cannot be read (the database does not answer). Try again in a few minutes.",
    ),
    "leaders.no_data": (
        "Chưa có số liệu chỉ tiêu nào trong phạm vi của bạn.",
        "No KPI figures in your scope yet.",
    ),
    "leaders.no_units": (
        "Tài khoản không được giao đơn vị nào có trong cấu hình.",
        "Your account has no known unit.",
    ),
    "leaders.panel.ranking": (
        "Xếp hạng xã theo chỉ số chuyển đổi số · {period}",
        "Communes ranked by digital-transformation index · {period}",
    ),
    "leaders.panel.kpis": ("Chỉ tiêu của {unit} · {period}", "Indicators of {unit} · {period}"),
    "leaders.panel.trend": ("Xu hướng", "Trend"),
    "leaders.col.rank": ("Hạng", "Rank"),
    "leaders.col.unit": ("Đơn vị", "Unit"),
    "leaders.col.points": ("Điểm", "Points"),
    "leaders.col.index": ("Chỉ số", "Index"),
    "leaders.col.index_change": ("So với kỳ trước", "vs previous period"),
    "leaders.col.reported": ("Đã báo cáo", "Reported"),
    "leaders.col.kpi": ("Chỉ tiêu", "Indicator"),
    "leaders.col.period": ("Kỳ số liệu", "Figure's period"),
    "leaders.col.value": ("Thực hiện", "Actual"),
    "leaders.col.target": ("Kế hoạch", "Target"),
    "leaders.col.attainment": ("Mức đạt", "Attainment"),
    "leaders.col.weight": ("Trọng số", "Weight"),
    "leaders.col.previous": ("So với kỳ trước", "vs previous period"),
    "leaders.col.last_year": ("So với cùng kỳ năm trước", "vs same period last year"),
    "leaders.col.status": ("Đánh giá", "Status"),
    "leaders.status.met": ("Đạt", "Met"),
    "leaders.status.missed": ("Chưa đạt", "Not met"),
    "leaders.status.missing": ("Chưa báo cáo", "Not reported"),
    "leaders.status.no_target": ("Chưa có kế hoạch", "No target"),
    "leaders.rank_was": ("hạng {rank} kỳ trước", "rank {rank} before"),
    "leaders.reported_of": ("{n}/{m}", "{n}/{m}"),
    "leaders.points_of": ("{points}/{max}", "{points}/{max}"),
    "leaders.method": (
        "Cách tính: mỗi chỉ tiêu có trọng số và kế hoạch được tính điểm = trọng số \u00d7 mức đạt"
        " (thực hiện / kế hoạch,"
        " tối đa 100 %; chỉ tiêu càng thấp càng tốt: kế hoạch / thực hiện); chưa báo cáo: 0 điểm. Chỉ số ="
        " tổng điểm / {max} \u00d7 100. Số liệu quý, năm là bình quân các kỳ đã báo cáo. Chỉ tiêu tính từ phản ánh"
        " của người dân không có số liệu (không có gì để đánh giá) thì không tính vào điểm tối đa của đơn vị.",
        "Method: each indicator with a weight and a target scores weight \u00d7 attainment"
        " (actual / target, at most"
        " 100 %; lower-is-better indicators: target / actual); not reported: 0 points. Index = total points /"
        " {max} \u00d7 100. Quarters and years average the periods reported. An indicator computed from citizens'"
        " reports with no figure (nothing to judge) is left out of that unit's maximum points.",
    ),
    "leaders.baseline": ("mốc {as_of}: {value}", "baseline {as_of}: {value}"),
    "leaders.not_scored": (
        "Không tính điểm (chưa có kế hoạch): {names}.",
        "Not scored (no target): {names}.",
    ),
    "leaders.export.xlsx": ("Xuất Excel", "Export to Excel"),
    "leaders.export.pdf": ("Xuất PDF", "Export to PDF"),
    "leaders.trend.unit": ("{unit}", "{unit}"),
    "leaders.trend.average": ("Bình quân các xã trong phạm vi", "Average of communes in scope"),
    "leaders.trend.target": ("Kế hoạch", "Target"),
    "leaders.chart.index": ("Chỉ số", "Index"),
    "leaders.panel.map": ("Bản đồ chỉ số theo xã · {period}", "Index by commune · {period}"),
    "leaders.map.hover": (
        "<b>{unit}</b><br>Chỉ số: {index}<br>Hạng {rank}/{n}<br>So với kỳ trước: {change}",
        "<b>{unit}</b><br>Index: {index}<br>Rank {rank} of {n}<br>vs previous period: {change}",
    ),
    "leaders.status.not_due": ("Chưa đến kỳ báo cáo", "Not due yet"),
    "leaders.not_due_note": (
        "Chưa đến kỳ báo cáo nên không tính vào chỉ số kỳ này và kỳ so sánh: {names}.",
        "Not due yet, so left out of this index and of the one it is compared with: {names}.",
    ),
    "leaders.compared_with": (
        "Kỳ chưa kết thúc: so sánh với cùng các tháng của kỳ trước, {period}.",
        "Period in progress: compared with the same months of the earlier period, {period}.",
    ),
}
register(PAGE_STRINGS)
