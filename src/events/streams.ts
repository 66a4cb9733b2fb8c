// Stream names: one stream per segment slug, one per user.
export const SEGMENT_STREAM_PREFIX = 'segment-';
export const USER_STREAM_PREFIX = 'user-';

export const segmentStream = (slug: string): string => `${SEGMENT_STREAM_PREFIX}${slug}`;
export const userStream = (userId: number): string => `${USER_STREAM_PREFIX}${userId}`;

