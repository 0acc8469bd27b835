-- Traffic zones carry their congestion level (free, moderate, heavy, jammed) with each occupancy row.
ALTER TABLE zone_occupancy ADD COLUMN IF NOT EXISTS congestion text
    CHECK (congestion IS NULL OR congestion IN ('free', 'moderate', 'heavy', 'jammed'));
