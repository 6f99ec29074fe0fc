"""The Responses API's own state: stored responses (`store`), their input items and
`previous_response_id` chains (`service`, `items`, `store`), and background runs
(`background`). Requests and answers are translated in `gateway.translate.responses_*`."""
