"""LLM Debate: three experts answer, read each other's answers for two rounds, a judge decides.

Crib's version of the multi-agent debate seed (Du et al., 2023) in the ADAS API.
"""


def forward(self, taskInfo):
    roles = ["careful mathematician", "puzzle expert", "sceptical reviewer"]
    debaters = [LLMAgentBase(["thinking", "answer"], "Debate Agent", role=r, temperature=0.8)
                for r in roles]
    judge = LLMAgentBase(["thinking", "answer"], "Final Decision Agent", temperature=0.1)
    previous = []
    for round_index in range(2):
        current = []
        for debater in debaters:
            if round_index == 0:
                thinking, answer = debater([taskInfo], "Think step by step, then answer.")
            else:
                thinking, answer = debater(
                    [taskInfo] + previous,
                    "Consider the other answers above, then give your updated answer.",
                    round_index)
            current.extend([thinking, answer])
        previous = current
    thinking, answer = judge([taskInfo] + previous,
                             "Weigh the answers above and give the final answer.")
    # Small models sometimes leave the answer field empty: the reasoning beats nothing.
    return answer if str(answer.content).strip() else thinking
