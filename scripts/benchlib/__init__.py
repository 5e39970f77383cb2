"""The benchmark's parts (`scripts/bench.py` is the entry point; docs/benchmarks.md the reading).

- `targets`: what each figure must meet, and the bench's own settings;
- `watchers`: CPU busy outside the bench, peak RSS of processes;
- `client`: the HTTP client that streams a file and follows a run, phases from log events;
- `measurements`: the floor (COPY), ours, the peer (frictionless), latency, web memory;
- `live`: run final → open page (event stream), and the CPU an open page costs;
- `suite`: each measurement taken on a quiet machine and reported against its target;
- `report`: the table, the phase split, the machine;
- `profile`: one more run under py-spy, summarised.
"""
