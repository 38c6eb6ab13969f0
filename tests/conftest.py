"""Shared pytest setup: report the execution counts that litmus tests record."""


def pytest_terminal_summary(terminalreporter):
    rows = []
    for rep in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        for key, value in getattr(rep, "user_properties", ()):
            if key == "executions" and rep.when == "call":
                rows.append((rep.nodeid.split("::", 1)[-1], value))
    if rows:
        terminalreporter.section("litmus executions enumerated")
        total = 0
        for name, n in rows:
            terminalreporter.write_line(f"{n:8d}  {name}")
            total += n
        terminalreporter.write_line(f"{total:8d}  total over {len(rows)} enumerations")
