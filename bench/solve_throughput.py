"""Batch throughput: `crib solve` on N problems against the scripted server with a fixed latency.

Prints wall time, the calls the server served, and the ratio wall / (calls × latency / concurrency)
— 1.00 means the batch is as fast as the endpoint allows. Target (docs/targets.md, restated):
at 1 s latency, --concurrency 64, 500 problems, for `cot` and `cot-sc`, the batch wall within
1.05× the same-run floor client (`--latency 1 --concurrency 64 --problems 500`). At 100 ms the
figure is reported, no longer a target.

The wall time is the batch's own (`wall_s` in the summary: from the first problem to the last),
so process start-up and imports are reported separately. Agents run in the real sandbox. Only
`--concurrency` is passed to `crib solve` (the one control of calls in flight);
`--llm-concurrency N` also sets the config's `llm.concurrency`, to see it cap the batch.

Two baselines, measured in the same run, each against its own copy of the endpoint and in its own
process, send as many calls as the batch made with the same concurrency limit, all at once:
- the floor: a bare HTTP/1.1 client on raw sockets (no library; each connection writes its next
  request in the callback that read the previous reply). What this machine and this endpoint
  allow any client at all;
- Crib's model client alone (`LLM.complete` over LangChain's ChatOpenAI, no database): no
  agents, no sandbox, no records. So "Crib over the baseline" is the cost of everything else.

Usage: python bench/solve_throughput.py [--problems 200] [--latency 0.1] [--concurrency 32]
       [--agent cot] [--llm-concurrency N]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crib.agents.domains.game24 import solve as solve24  # noqa: E402
# game24_solver: a perfect scripted model
from tests.crib.test_solve_cli import NUMBERS, game24_solver  # noqa: E402
from tests.scripted_server import Reply, ScriptedServer  # noqa: E402


def puzzles(problems: int, seed: int = 0) -> list[str]:
    """The puzzles `crib solve --domain game24 --limit N` generates."""
    from crib.agents.domains import get_domain

    return [p.input for p in get_domain("game24").generate(problems, seed=seed)]


def solved_expressions(problems: int) -> dict[str, str]:
    """A right expression for each generated puzzle, worked out before the clock starts: the
    fake endpoint shares this machine's 2 cores with Crib, and solving a puzzle per request
    (≈2.5 ms of CPU) would bill the endpoint's work to Crib's throughput."""
    return {p: solve24([int(n) for n in p.split()]) for p in puzzles(problems)}


def chat_body(puzzles: list[str], i: int) -> dict:
    """The baselines' i-th request: a puzzle the endpoint has a reply ready for."""
    return {"model": "scripted", "stream": False, "messages": [
        {"role": "user", "content": f"Use the numbers {puzzles[i % len(puzzles)]} to make 24."}]}


async def client_alone(url: str, puzzles: list[str], calls: int, concurrency: int) -> float:
    """Wall time of `calls` completions through Crib's model client (`LLM`, no database, cache
    off) with `concurrency` in flight, all submitted at once; nothing else runs here."""
    from crib.agents.llm import LLM, ModelSettings

    llm = LLM(None, {"solver": ModelSettings(model="scripted", base_url=url, timeout_s=60,
                                             max_retries=0)}, cache="off")
    llm.want_in_flight(concurrency)
    llm.prepare()  # imports before the clock, as `crib solve` does before its batch

    async def call(i: int) -> None:
        await llm.complete(chat_body(puzzles, i)["messages"])

    start = time.perf_counter()
    await asyncio.gather(*(call(i) for i in range(calls)))
    wall = time.perf_counter() - start
    await llm.aclose()
    return wall


async def bare_client(url: str, puzzles: list[str], calls: int, concurrency: int) -> float:
    """Wall time of `calls` completions on `concurrency` keep-alive connections driven by
    hand: a reply is read and the connection's next request written in one callback."""
    loop = asyncio.get_running_loop()
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    unsent, unanswered, done = [calls], [calls], loop.create_future()

    def request(i: int) -> bytes:
        body = json.dumps(chat_body(puzzles, i))
        return (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
                ).encode()

    class Connection(asyncio.Protocol):
        def connection_made(self, transport) -> None:
            self.transport, self.buffer = transport, b""
            self.send_next()

        def send_next(self) -> None:
            if unsent[0] > 0:
                unsent[0] -= 1
                self.transport.write(request(unsent[0]))

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")]
            if not sep or len(rest) < length[0]:
                return  # one request in flight per connection: at most one reply buffered
            self.buffer = b""
            self.send_next()
            unanswered[0] -= 1
            if unanswered[0] == 0:
                done.set_result(None)

    start = time.perf_counter()
    transports = [(await loop.create_connection(Connection, host, int(port)))[0]
                  for _ in range(min(concurrency, calls))]
    await done
    wall = time.perf_counter() - start
    for transport in transports:
        transport.close()
    return wall


def at_endpoint(server: ScriptedServer) -> tuple[float, float, float]:
    """(calls in flight on average, over how many seconds, ms a call took the endpoint)."""
    answered = [r for r in server.chat_requests if r.answered_at is not None]
    span = max(r.answered_at for r in answered) - min(r.received_at for r in answered)
    busy = sum(r.answered_at - r.received_at for r in answered)
    return busy / span, span, busy / len(answered) * 1000


def transcript_space(db: Path, problems: int) -> str:
    """What the batch's transcripts take in the database (`crib runs stats`)."""
    from sqlalchemy import create_engine

    from crib.agents.transcript_query import transcript_stats

    engine = create_engine(f"sqlite:///{db}")
    try:
        st = transcript_stats(engine)
    finally:
        engine.dispose()
    events = sum(st.events.values())
    if not events:
        return "transcripts: none recorded"
    return (f"transcripts: {events} events, {st.texts} distinct texts, "
            f"{st.text_chars / problems:.0f} characters stored a problem for "
            f"{st.referenced_chars / problems:.0f} referred to; database file "
            f"{(st.database_bytes or 0) / 1e6:.1f} MB in all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--agent", default="cot")
    parser.add_argument("--llm-concurrency", type=int, help="also set llm.concurrency")
    parser.add_argument("--no-transcripts", action="store_true",
                        help="record no transcripts (their cost: compare with a run that does)")
    # A baseline's own process:
    parser.add_argument("--baseline", choices=["bare", "crib"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.latency <= 0 or args.concurrency < 1 or args.problems < 1:
        parser.error("--latency must be positive, --concurrency and --problems at least 1")

    if args.baseline:
        client = bare_client if args.baseline == "bare" else client_alone
        print(asyncio.run(client(args.url, puzzles(args.problems), args.calls, args.concurrency)))
        return
    ready = solved_expressions(args.problems)

    def reply(body):
        found = NUMBERS.findall("\n".join(str(m.get("content", "")) for m in body["messages"]))
        known = ready.get(found[-1].strip()) if found else None
        if known is None:
            r = game24_solver(body)
        elif body.get("response_format"):  # the ADAS API's JSON fields
            r = Reply(text=json.dumps({"thinking": "search all orders",
                                       "answer": f"Answer: {known}"}))
        else:  # plain-text agents (cot-sc, Crib's llm)
            r = Reply(text=f"Search all orders.\nAnswer: {known}")
        r.delay_s = args.latency
        return r

    with ScriptedServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.script(reply)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CRIB_", "OPENAI_"))}
        env.update(CRIB_DATA_DIR=tmp, OPENAI_BASE_URL=server.url, CRIB_LLM__MODEL="scripted",
                   NO_COLOR="1")
        if args.llm_concurrency:
            env["CRIB_LLM__CONCURRENCY"] = str(args.llm_concurrency)
        if args.no_transcripts:
            env["CRIB_TRANSCRIPTS"] = "false"
        cmd = [sys.executable, "-m", "crib", "solve", "--domain", "game24",
               "--limit", str(args.problems), "--agent", args.agent, "--memory", "none",
               "--cache", "off", "--concurrency", str(args.concurrency), "--json"]
        start = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = subprocess.run(cmd, env=env, capture_output=True, text=True)
        process_s = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if result.returncode != 0:
            sys.exit(f"crib solve failed ({result.returncode}):\n{result.stderr[-3000:]}")
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        ideal = server.served * args.latency / args.concurrency
        print(f"problems {summary['n']}  agent {args.agent}  concurrency {args.concurrency}  "
              f"latency {args.latency * 1000:.0f} ms  accuracy {summary['accuracy']:.3f}  "
              f"errors {summary['errors']}")
        print(f"calls served by the server: {server.served}  "
              f"(max in flight {server.max_in_flight} of --concurrency {args.concurrency})")
        capped = [line for line in result.stderr.splitlines() if "in flight" in line]
        if capped:
            print("crib said: " + " / ".join(capped))
        print(f"batch wall {summary['wall_s']:.2f} s   "
              f"ideal calls×latency/concurrency {ideal:.2f} s")
        print(f"ratio wall/ideal: {summary['wall_s'] / ideal:.2f}")
        if server.served == summary["n"]:  # one call a problem: whole rounds of `concurrency` calls
            floor = math.ceil(summary["n"] / args.concurrency) * args.latency
            print(f"  with one call per problem no client beats {floor:.2f} s "
                  f"(ratio {floor / ideal:.2f}): {summary['n']} calls of "
                  f"{args.latency * 1000:.0f} ms "
                  f"take {math.ceil(summary['n'] / args.concurrency)} rounds of {args.concurrency}")
        in_flight, span, per_call = at_endpoint(server)
        print(f"at the endpoint: {in_flight:.1f} calls in flight on average over {span:.2f} s "
              f"(of {args.concurrency}); a call took it {per_call:.1f} ms on average (the ideal "
              f"counts {args.latency * 1000:.0f})")
        print(f"whole process incl. start-up and imports: {process_s:.2f} s, CPU {cpu_s:.2f} s "
              f"(crib and its sandbox processes; load average now {os.getloadavg()[0]:.1f})")
        print(transcript_space(Path(tmp) / "crib.db", summary["n"]))
        calls = server.served

    walls = {}
    for baseline, what in (("bare", "floor, a bare socket client"),
                           ("crib", "baseline, Crib's model client alone")):
        with ScriptedServer() as server:  # a fresh copy of the endpoint
            server.script(reply)
            out = subprocess.run([sys.executable, __file__, "--baseline", baseline,
                                  "--url", server.url, "--calls", str(calls),
                                  "--concurrency", str(args.concurrency),
                                  "--problems", str(args.problems)],
                                 capture_output=True, text=True, check=True)
            walls[baseline] = wall = float(out.stdout.strip().splitlines()[-1])
            in_flight, _, per_call = at_endpoint(server)
            print(f"{what} ({calls} calls, {args.concurrency} at a time): {wall:.2f} s, "
                  f"ratio {wall / ideal:.3f}; at the endpoint {in_flight:.1f} in flight, "
                  f"{per_call:.1f} ms a call")
    print(f"Crib over the baseline: {summary['wall_s'] / walls['crib']:.3f}, "
          f"over the floor: {summary['wall_s'] / walls['bare']:.3f} (target ≤ 1.05 at 1 s, "
          f"--concurrency 64, 500 problems)")


if __name__ == "__main__":
    main()
