-- A received trace request keeps at most 50 findings (the items carrying its serials, the full matches first); the
-- officer was not told when more items carried them. findings_omitted: how many matching items were left out, counted
-- on receipt with the findings (an incoming request's; NULL for an outgoing one). NULL too for the requests received
-- before: what matched then is not known now (items registered since would be counted).
ALTER TABLE trace_request
    ADD COLUMN findings_omitted integer,
    ADD CONSTRAINT trace_request_findings_omitted_check
        CHECK (findings_omitted IS NULL OR (direction = 'incoming' AND findings_omitted >= 0));
