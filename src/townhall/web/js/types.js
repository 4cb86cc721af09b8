// @ts-check
// The server's contract as the web client reads it: JSDoc types only (no code), so that
// `// @ts-check` in an editor catches a wrong field name. Hand-written, and checked
// against the server by tests/test_web_types.py: each typedef that names its OpenAPI
// schema (`schema:`) or its event types (`event:`) has exactly their fields.

/**
 * @typedef {'host' | 'cohost' | 'speaker' | 'listener'} Role
 * @typedef {'scheduled' | 'live' | 'ended' | 'cancelled'} SpaceState
 *
 * @typedef {object} UserBrief
 * schema: UserBrief
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
 * schema: HistorySummary
 * @property {string | null} started_at
 * @property {string | null} ended_at
 * @property {number | null} duration_seconds
 * @property {number} peak_listeners
 * @property {number} total_listeners
 * @property {UserBrief[]} speakers  everyone who was on stage, host first
 *
 * @typedef {object} SpaceView
 * schema: SpaceOut
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
 * schema: StageMember
 * @property {UserBrief} user
 * @property {Role} role
 * @property {boolean} muted
 * @property {string[]} actions  what the viewer may do to them now (domain/actions.py)
 *
 * @typedef {object} QueuedHand  a snapshot's `hand_queue` entry (moderators only)
 * schema: RaisedHand
 * @property {UserBrief} user
 * @property {number} raised_at
 * @property {string[]} actions
 *
 * @typedef {object} Invitation  a snapshot's `invitations` entry (moderators only)
 * schema: Invitation
 * @property {UserBrief} user
 * @property {Role} role
 *
 * @typedef {object} ListedListener  a snapshot's `listeners` entry
 * schema: ListenerOut
 * @property {number} id
 * @property {string} handle
 * @property {string} display_name
 * @property {string[]} actions
 *
 * @typedef {object} MyPlace  a snapshot's `me`
 * schema: MyPlace
 * @property {Role | null} role
 * @property {boolean} muted
 * @property {boolean} hand_raised
 * @property {Role | null} invited_as
 * @property {string[]} actions  what the viewer may do to themselves
 *
 * @typedef {object} Snapshot  `data` of a `snapshot` message, and the answer of POST join
 * schema: Snapshot
 * @property {boolean | RecordingFile | null} recording  as `space.recording`
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
 * Event data by type (the `event:` line names the types whose `data` it is):
 *
 * @typedef {object} SpaceChangedData
 * event: space.started space.updated
 * @property {SpaceView} space
 *
 * @typedef {object} SpaceEndedData
 * event: space.ended
 * @property {string} reason  `cancelled`, `host_gone`, `host_ended`, ...
 *
 * @typedef {object} MemberJoinedData
 * event: member.joined
 * @property {UserBrief} user
 * @property {Role} role
 *
 * @typedef {object} MemberLeftData
 * event: member.left
 * @property {number} user_id
 * @property {'absent' | 'no_access' | null} [reason]
 *
 * @typedef {object} MemberRemovedData
 * event: member.removed
 * @property {number} user_id
 * @property {number} by
 *
 * @typedef {object} HandRaisedData
 * event: hand.raised
 * @property {number} user_id
 *
 * @typedef {object} HandLoweredData
 * event: hand.lowered
 * @property {number} user_id
 * @property {number | null} [by]
 * @property {boolean | null} [declined]
 *
 * @typedef {object} InviteSentData
 * event: invite.sent
 * @property {number} user_id
 * @property {Role} role
 * @property {number} by
 *
 * @typedef {object} InviteDeclinedData
 * event: invite.declined
 * @property {number} user_id
 * @property {Role | null} role
 *
 * @typedef {object} RoleChangedData
 * event: role.changed
 * @property {number} user_id
 * @property {Role} role
 * @property {number} by
 *
 * @typedef {object} MuteChangedData
 * event: mute.changed
 * @property {number} user_id
 * @property {boolean} muted
 * @property {number} by
 *
 * @typedef {object} ReactionData
 * event: reaction
 * @property {number} user_id
 * @property {string} emoji
 *
 * @typedef {object} StageLockedData
 * event: stage.locked
 * @property {boolean} locked
 * @property {number} by
 *
 * @typedef {object} LevelsData
 * event: levels
 * @property {Record<string, number>} levels  speaking level per user id; 0: silent
 *
 * @typedef {object} MediaMovedData
 * event: media.moved
 * @property {number[]} user_ids
 * @property {'worker_lost' | 'promoted'} reason
 *
 * @typedef {object} ListenersCountData
 * event: listeners.count
 * @property {number} count
 *
 * @typedef {object} RecordingChangedData
 * event: recording.changed
 * @property {boolean} on
 * @property {number} by
 *
 * @typedef {object} CaptionsChangedData
 * event: captions.changed
 * @property {boolean} on
 * @property {string} language
 * @property {boolean | null} [clips]
 * @property {number | null} [by]
 * @property {boolean | null} [paused]
 *
 * @typedef {object} CaptionData
 * event: caption
 * @property {number} user_id
 * @property {string} text
 * @property {boolean} final
 * @property {number} start_ms
 * @property {number} end_ms
 * @property {number | string} utterance
 */

export {};
