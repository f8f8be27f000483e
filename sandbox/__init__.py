"""Isolated execution of untrusted code: two tiers (bubblewrap; a Landlock fork-server), limits,
and a narrow host<->guest channel. Imports nothing else of Crib's.

    async with Sandbox() as sb:
        r = await sb.run("print(6*7)", tier="snippet")
        a = await sb.run_agent(code, task="...", answer_format="...", rpc=handler)
"""
from crib.sandbox.check import CheckReport, TierStatus, check
from crib.sandbox.limits import Limits, RunResult
from crib.sandbox.sandbox import Sandbox, SandboxUnavailable

__all__ = ["Sandbox", "Limits", "RunResult", "SandboxUnavailable", "check", "CheckReport",
           "TierStatus"]
