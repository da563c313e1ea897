"""The asyncio twin of ``TritonClient`` over ``tritonclient.grpc.aio``: inference and readiness.

Same codec and the same ``triton_errors()`` boundary as the thread-safe client, so the
API's synchronous path raises exactly what a worker would. Create it inside the event
loop that will use it (a ``grpc.aio`` channel is bound to its loop).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from tritonclient.grpc import aio as grpcaio

from hybrid_core.errors import HybridError
from triton_client.client import DEFAULT_CONTROL_TIMEOUT_S, DEFAULT_INFER_TIMEOUT_S, GRPC_CHANNEL_ARGS
from triton_client.codec import InferenceOutput, decode_result, encode_inputs
from triton_client.errors import triton_errors


class AsyncTritonClient:
    """Inference and readiness over one ``grpc.aio`` channel, shared by every task of a loop."""

    def __init__(
        self,
        url: str,
        *,
        infer_timeout_s: float = DEFAULT_INFER_TIMEOUT_S,
        control_timeout_s: float = DEFAULT_CONTROL_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.infer_timeout_s = infer_timeout_s
        self.control_timeout_s = control_timeout_s
        self._client = grpcaio.InferenceServerClient(url, channel_args=GRPC_CHANNEL_ARGS)

    async def close(self) -> None:
        """Close the channel; later calls fail."""
        await self._client.close()

    async def __aenter__(self) -> AsyncTritonClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def infer(
        self,
        model: str,
        batch: npt.NDArray[np.float32],
        *,
        version: str | None = None,
        input_name: str = "INPUT__0",
        output_name: str = "OUTPUT__0",
        timeout_s: float | None = None,
    ) -> InferenceOutput:
        """Run ``batch`` through ``model`` (pinned to ``version`` if given)."""
        inputs, outputs = encode_inputs(input_name, output_name, batch)
        with triton_errors():
            result = await self._client.infer(
                model,
                inputs,
                model_version=version or "",
                outputs=outputs,
                client_timeout=timeout_s or self.infer_timeout_s,
            )
        return decode_result(result, output_name)

    async def is_server_ready(self) -> bool:
        """True when Triton answers and says it is ready; False when it cannot be reached."""
        try:
            with triton_errors():
                return bool(await self._client.is_server_ready(client_timeout=self.control_timeout_s))
        except HybridError:  # readiness probes answer, they do not raise
            return False
