"""Translation between client APIs and providers of another kind, through neutral shapes.

`types` holds the neutral request, answer and stream events; `*_request` decode a client's
body, `*_response` encode answers for a client, `reply` runs a translated answer, `reasons`
maps finish reasons. The provider side lives in `gateway.providers`.
"""
