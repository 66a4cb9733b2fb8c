// Events of the segment stream (`segment-{slug}`). A slug re-created after deletion gets a new
// segmentId in the same stream, and memberships refer to the segmentId.
export interface SegmentCreated {
  type: 'SegmentCreated';
  data: {
    segmentId: string;
    slug: string;
    description: string | null;
    autoAssignPercent: number | null;
    rolloutSeed: string;
    createdAt: string;
  };
}

/** PATCH: the values after the change, both given in full (a field not in the request keeps its value). */
export interface SegmentUpdated {
  type: 'SegmentUpdated';
  data: {
    segmentId: string;
    slug: string;
    description: string | null;
    autoAssignPercent: number | null;
    updatedAt: string;
  };
}

export interface SegmentDeleted {
  type: 'SegmentDeleted';
  data: { segmentId: string; slug: string; deletedAt: string };
}

export type SegmentEvent = SegmentCreated | SegmentUpdated | SegmentDeleted;

