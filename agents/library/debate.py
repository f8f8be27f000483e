"""LLM Debate: three experts answer, read each other's answers for two rounds, a judge decides.

Crib's version of the multi-agent debate seed (Du et al., 2023), built from ADAS's
`LLMAgentBase`. The debaters of one round see only the earlier rounds, so each round's three
calls go out at once (`LLMAgentBase.query_many`, a Crib addition to the ADAS API).
"""
from crib_runtime import Info, LLMAgentBase


def forward(task):
    task_info = Info("task", "User", task, -1)
    roles = ["careful mathematician", "puzzle expert", "sceptical reviewer"]
    debaters = [LLMAgentBase(["thinking", "answer"], "Debate Agent", role=r, temperature=0.8)
                for r in roles]
    judge = LLMAgentBase(["thinking", "answer"], "Final Decision Agent", temperature=0.1)
    previous = []
    for round_index in range(2):
        # A debater sees only earlier rounds, so the debaters of one round answer at once.
        if round_index == 0:
            calls = [(debater, [task_info], "Think step by step, then answer.")
                     for debater in debaters]
        else:
            calls = [(debater, [task_info] + previous,
                      "Consider the other answers above, then give your updated answer.",
                      round_index) for debater in debaters]
        current = []
        for thinking, answer in LLMAgentBase.query_many(calls):
            current.extend([thinking, answer])
        previous = current
    thinking, answer = judge([task_info] + previous,
                             "Weigh the answers above and give the final answer.")
    # Small models sometimes leave the answer field empty: the reasoning beats nothing.
    return answer if str(answer.content).strip() else thinking
