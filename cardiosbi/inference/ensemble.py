"""Deep ensembles: K independently trained posteriors combined as an equal-weight mixture."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from cardiosbi.errors import NotAvailableError
from cardiosbi.inference.posterior import Posterior


class EnsemblePosterior(Posterior):
    """q(theta | x) = (1/K) sum_k q_k(theta | x).

    Ensembles widen overconfident single posteriors (Hermans et al., 2022, "A trust crisis in
    simulation-based inference?"). Members keep their own embeddings, so there is no single
    ``embed``; use ``members[i]`` for RoPE-style access.
    """

    kind = "ensemble"

    def __init__(self, members: Sequence[Posterior], reject_width90: Tensor | None = None) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        first = members[0]
        for member in members[1:]:
            if member.parameter_names != first.parameter_names:
                raise ValueError("ensemble members must share their parameter names")
        super().__init__(first.parameter_names, first.low, first.high, first.units, reject_width90)
        self.members = list(members)

    @property
    def embedding_net(self):
        raise NotAvailableError("an ensemble has one embedding per member; use .members[i]")

    def to(self, device: str | torch.device) -> EnsemblePosterior:
        """Move every member to ``device`` (in place) and return self."""
        for member in self.members:
            member.to(device)
        return self

    @property
    def x_shape(self) -> tuple[int, ...] | None:
        return self.members[0].x_shape

    @property
    def reads_gaps(self) -> bool:
        return all(member.reads_gaps for member in self.members)

    def valid_rows(self, x: Tensor) -> Tensor:
        valid = self.members[0].valid_rows(x)
        for member in self.members[1:]:
            valid = valid & member.valid_rows(x)
        return valid

    @torch.no_grad()
    def _sample(self, x: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
        draws = torch.stack([m._sample(x, n, generator).cpu() for m in self.members])
        # Pick a member per draw: exact sampling from the equal-weight mixture.
        which = torch.randint(len(self.members), draws.shape[1:3], generator=generator,
                              device=generator.device if generator is not None else "cpu").cpu()
        index = which[None, :, :, None].expand(1, *draws.shape[1:])
        return draws.gather(0, index)[0]

    def log_prob(self, theta: Tensor, x: Tensor) -> Tensor:
        x, _ = self._batched(x)
        terms = torch.stack([m.log_prob(theta, x).cpu() for m in self.members])
        return torch.logsumexp(terms, dim=0) - math.log(len(self.members))

    def state(self) -> dict[str, Any]:
        from cardiosbi.inference.serialization import posterior_payload

        return {
            "members": [posterior_payload(m) for m in self.members],
            "reject_width90": self.reject_width90,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EnsemblePosterior:
        from cardiosbi.inference.serialization import posterior_from_payload

        members = [posterior_from_payload(p) for p in state["members"]]
        return cls(members, state["reject_width90"])
