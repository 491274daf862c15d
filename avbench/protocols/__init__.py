"""Protocols: what is done with an encoder's features (linear SVM, linear head, k-NN, retrieval) or with the
encoder itself (finetuning). :data:`PROTOCOLS` is their registry (:class:`avbench.registry.Registry`): a card's
``classifier: {type: NAME, ...}`` block is validated by ``NAME``'s settings model and run by its code. Third-party
protocols register under the ``avbench.protocols`` entry-point group or with ``PROTOCOLS.register(NAME)``.
"""
from __future__ import annotations

from avbench.protocols.base import Protocol
from avbench.registry import Registry

__all__ = ["PROTOCOLS", "UnknownProtocolError", "get_protocol"]


class UnknownProtocolError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


PROTOCOLS: Registry[type[Protocol]] = Registry("protocol", group="avbench.protocols", error=UnknownProtocolError, builtin={
    "svm": "avbench.protocols.svm:SVMProtocol",
    "fc": "avbench.protocols.linear:FCProtocol",
    "knn": "avbench.protocols.knn:KNNProtocol",
    "retrieval": "avbench.protocols.retrieval:RetrievalProtocol",
    "finetune": "avbench.protocols.finetune.protocol:FinetuneProtocol",
})


def get_protocol(name: str) -> Protocol:
    """An instance of the protocol registered as ``name``."""
    return PROTOCOLS.load(name)()
