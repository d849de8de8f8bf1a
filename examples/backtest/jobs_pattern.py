#!/usr/bin/python3
"""The demo week's training jobs (examples/data/sakai_jobs_week.csv, Monday 2023-05-08 to Sunday)
repeated week after week over a period, as a CSV for `gridems backtest --jobs`.

Each job keeps its weekday and time of day (local time of its ISO offset) and gets a fresh id
per week; jobs whose deadline falls after the period's end are left out, so every job counted
in the report can be finished inside the period.

usage: jobs_pattern.py START_DATE DAYS UTC_OFFSET > jobs.csv
       e.g. jobs_pattern.py 2023-08-01 31 +09:00"""
import csv, datetime as dt, os, sys

def main():
    start_date, days, offset = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sign = 1 if offset[0] == "+" else -1
    hh, mm = offset[1:].split(":")
    tz = dt.timezone(sign * dt.timedelta(hours=int(hh), minutes=int(mm)))
    start = dt.datetime.fromisoformat(start_date).replace(tzinfo=tz)
    end = start + dt.timedelta(days=days)
    week_file = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                             "sakai_jobs_week.csv")
    rows = [r for r in csv.reader(l for l in open(week_file) if not l.startswith("#"))][1:]
    pattern_monday = dt.datetime.fromisoformat("2023-05-08T00:00:00+09:00")
    # The first Monday on or before the period's start carries the pattern's Monday.
    first_monday = start - dt.timedelta(days=start.weekday())
    print("id,arrival,energy_kwh,power_max_kw,deadline_hours")
    week = 0
    while first_monday + dt.timedelta(weeks=week) < end:
        for job_id, arrival, energy, pmax, deadline_h in rows:
            a = dt.datetime.fromisoformat(arrival)
            offset_in_week = a - pattern_monday
            local = (first_monday + dt.timedelta(weeks=week) + offset_in_week).replace(tzinfo=tz)
            deadline = local + dt.timedelta(hours=float(deadline_h))
            if local < start or deadline > end:
                continue
            print(f"{job_id}-w{week + 1},{local.isoformat()},{energy},{pmax},{deadline_h}")
        week += 1

if __name__ == "__main__":
    main()
