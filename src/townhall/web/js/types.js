// @ts-check
// The server's contract as the web client reads it: JSDoc types only (no code), so that
// `// @ts-check` in an editor catches a wrong field name. Hand-written from
// api/services/spaces/views.py (space and member views), reading.py (the snapshot) and the
// events published by api/services/spaces/*.py (docs/EVENTS.md); keep them in step.

/**
 * @typedef {'host' | 'cohost' | 'speaker' | 'listener'} Role
 * @typedef {'scheduled' | 'live' | 'ended' | 'cancelled'} SpaceState
 *
 * @typedef {object} UserBrief
 * @property {number} id
 * @property {string} handle
 * @property {string} display_name
 *
 * @typedef {object} RecordingFile  the finished recording of an ended space
 * @property {number} duration_seconds
 * @property {number} size_bytes
 * @property {string} url
 *
 * @typedef {object} CaptionsBrief
 * @property {boolean} on
 * @property {string} language
 * @property {boolean} clips
 * @property {boolean} [paused]
 * @property {boolean} [available]
 *
 * @typedef {object} SpaceHistory  `history` of an ended space (GET /spaces/{id})
 * @property {string | null} started_at
 * @property {string | null} ended_at
 * @property {number | null} duration_seconds
 * @property {number} peak_listeners
 * @property {number} total_listeners
 * @property {UserBrief[]} speakers  everyone who was on stage, host first
 *
 * @typedef {object} SpaceView
 * @property {string} id
 * @property {string} title
 * @property {string[]} topics
 * @property {'public' | 'private'} visibility
 * @property {'everyone' | 'followed' | 'invited'} speaker_policy
 * @property {boolean} followers_may_join
 * @property {SpaceState} state
 * @property {UserBrief | null} host
 * @property {string | null} scheduled_for
 * @property {string | null} created_at
 * @property {string | null} started_at
 * @property {string | null} ended_at
 * @property {number} listener_count
 * @property {number} stage_count
 * @property {UserBrief[]} speakers
 * @property {boolean | RecordingFile | null} recording  live: recording now; ended: the file
 * @property {CaptionsBrief} captions
 * @property {string} [end_reason]
 * @property {number} [peak_listeners]
 * @property {string} [share_url]  GET /spaces/{id} only
 * @property {Role | null} [my_role]  GET /spaces/{id} only
 * @property {boolean} [reminder_set]  GET /spaces/{id} and scheduled discovery
 * @property {SpaceHistory} [history]  GET /spaces/{id} of an ended space
 *
 * @typedef {object} StageMember  a snapshot's `stage` entry
 * @property {UserBrief} user
 * @property {Role} role
 * @property {boolean} muted
 * @property {string[]} actions  what the viewer may do to them now (domain/actions.py)
 *
 * @typedef {object} QueuedHand  a snapshot's `hand_queue` entry (moderators only)
 * @property {UserBrief} user
 * @property {number} raised_at
 * @property {string[]} actions
 *
 * @typedef {object} Invitation  a snapshot's `invitations` entry (moderators only)
 * @property {UserBrief} user
 * @property {Role} role
 *
 * @typedef {UserBrief & {actions: string[]}} ListedListener  a snapshot's `listeners` entry
 *
 * @typedef {object} MyPlace  a snapshot's `me`
 * @property {Role | null} role
 * @property {boolean} muted
 * @property {boolean} hand_raised
 * @property {Role | null} invited_as
 * @property {string[]} actions  what the viewer may do to themselves
 *
 * @typedef {object} Snapshot  `data` of a `snapshot` message, and the answer of POST join
 * @property {SpaceView} space
 * @property {StageMember[]} stage
 * @property {ListedListener[]} listeners  the first 100
 * @property {number} listener_count
 * @property {QueuedHand[] | null} hand_queue  null unless the viewer moderates
 * @property {number} hand_count
 * @property {Invitation[] | null} invitations  null unless the viewer moderates
 * @property {boolean} stage_locked
 * @property {string[]} reactions
 * @property {MyPlace} me
 *
 * @typedef {object} SpaceEvent  one message of a space on the WebSocket (docs/EVENTS.md)
 * @property {string} type
 * @property {string} [space_id]
 * @property {number} [seq]
 * @property {number} [at]
 * @property {boolean} [volatile]
 * @property {any} [data]  per type: see EventData
 * @property {{code: string, message: string}} [error]
 * @property {string} [reason]
 *
 * Event data by type:
 * @typedef {{space: SpaceView}} SpaceChangedData  space.started, space.updated
 * @typedef {{reason: string}} SpaceEndedData  space.ended (`cancelled`, `host_gone`, ...)
 * @typedef {{user: UserBrief, role: Role}} MemberJoinedData
 * @typedef {{user_id: number, reason?: string}} MemberLeftData
 * @typedef {{user_id: number, by: number}} MemberRemovedData
 * @typedef {{user_id: number, by?: number, declined?: boolean}} HandData  hand.raised, hand.lowered
 * @typedef {{user_id: number, role: Role, by?: number}} InviteData  invite.sent, invite.declined
 * @typedef {{user_id: number, role: Role, by: number}} RoleChangedData
 * @typedef {{user_id: number, muted: boolean, by: number}} MuteChangedData
 * @typedef {{user_id: number, emoji: string}} ReactionData
 * @typedef {{levels: Record<string, number>}} LevelsData
 * @typedef {{count: number}} ListenersCountData
 * @typedef {{on: boolean}} RecordingChangedData
 * @typedef {{locked: boolean, by: number}} StageLockedData
 * @typedef {{user_id: number, text: string, final?: boolean, utterance?: number}} CaptionData
 * @typedef {{user_ids: number[]}} MediaMovedData  media.moved
 */

export {};
