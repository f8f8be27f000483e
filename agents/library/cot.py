"""Chain-of-Thought: reason step by step, then give the answer in the required format.

Crib's version of the classic CoT seed (Wei et al., 2022) in the ADAS API: one call that asks
for the reasoning and the answer as separate JSON fields.
"""


def forward(self, taskInfo):
    agent = LLMAgentBase(["thinking", "answer"], "Chain-of-Thought Agent")
    thinking, answer = agent([taskInfo], "Think step by step, then give the answer.")
    # Small models sometimes leave the answer field empty: the reasoning beats nothing.
    return answer if str(answer.content).strip() else thinking
