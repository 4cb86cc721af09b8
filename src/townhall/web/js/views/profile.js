// Profile pages (follow, block, followers/following, their spaces) and editing my profile.

import { del, get, patch, post, qs } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { go } from '../router.js';
import { currentUser, setUser, signOut } from '../session.js';
import { spacesByHost } from '../spaces.js';
import { announce, avatar, bindForm, clear, displayName, field, formError, h, showError, toast, when } from '../ui.js';
import { failure, loading, mount } from './common.js';
import { spaceCard } from './spacecard.js';

export async function profileView(params) {
  const handle = params.handle;
  mount(`@${handle}`, loading());
  let profile;
  try {
    profile = await get(`/users/${encodeURIComponent(handle)}`);
  } catch (err) {
    mount('Not found', failure(err, () => profileView(params)));
    return;
  }
  const me = currentUser();
  const isMe = me && me.id === profile.id;
  const actions = h('div', { class: 'profile-actions' });
  const counts = h('p', { class: 'counts' });
  const relation = h('p', { class: 'muted relation' });

  function paint() {
    clear(counts).append(
      h('a', { href: `#/u/${encodeURIComponent(profile.handle)}/followers` }, h('strong', {}, String(profile.followers_count)), ' followers'),
      ' · ',
      h('a', { href: `#/u/${encodeURIComponent(profile.handle)}/following` }, h('strong', {}, String(profile.following_count)), ' following'),
    );
    const notes = [];
    if (profile.follows_you) notes.push('Follows you');
    if (profile.blocked_you) notes.push('Has blocked you');
    if (profile.is_blocked) notes.push('You blocked this account');
    relation.textContent = notes.join(' · ');
    relation.hidden = notes.length === 0;
    clear(actions);
    if (isMe) {
      actions.append(h('a', { class: 'btn', href: '#/settings' }, 'Edit profile'));
      return;
    }
    if (!profile.is_blocked) {
      actions.append(
        h(
          'button',
          {
            type: 'button',
            class: profile.is_following ? 'btn' : 'btn btn-primary',
            'aria-pressed': profile.is_following ? 'true' : 'false',
            onclick: (ev) => act(ev.currentTarget, profile.is_following ? del : post, 'follow', profile.is_following ? `Unfollowed @${profile.handle}` : `Following @${profile.handle}`),
          },
          profile.is_following ? 'Unfollow' : 'Follow',
        ),
      );
    }
    actions.append(
      h(
        'button',
        {
          type: 'button',
          class: profile.is_blocked ? 'btn' : 'btn btn-danger-ghost',
          onclick: async (ev) => {
            const button = ev.currentTarget;
            if (!profile.is_blocked && !(await confirmDialog({ title: `Block @${profile.handle}?`, message: 'They will not be able to follow you or join your spaces.', confirm: 'Block', danger: true }))) return;
            act(button, profile.is_blocked ? del : post, 'block', profile.is_blocked ? `Unblocked @${profile.handle}` : `Blocked @${profile.handle}`);
          },
        },
        profile.is_blocked ? 'Unblock' : 'Block',
      ),
    );
  }

  async function act(button, method, what, done) {
    button.disabled = true;
    try {
      profile = await method(`/users/${encodeURIComponent(profile.handle)}/${what}`);
      paint();
      announce(done);
      const again = actions.querySelector('button');
      if (again) again.focus();
    } catch (err) {
      showError(err);
      button.disabled = false;
    }
  }

  const live = h('section', { class: 'section', 'aria-labelledby': 'p-live' }, h('h2', { id: 'p-live' }, 'Live now'), loading());
  const upcoming = h('section', { class: 'section', 'aria-labelledby': 'p-up' }, h('h2', { id: 'p-up' }, 'Upcoming'), loading());
  const header = h(
    'section',
    { class: 'card profile-head' },
    avatar(profile, 'xl'),
    h(
      'div',
      { class: 'profile-text' },
      h('h1', {}, displayName(profile)),
      h('p', { class: 'handle' }, `@${profile.handle}`),
      profile.bio ? h('p', { class: 'bio' }, profile.bio) : null,
      counts,
      relation,
      actions,
    ),
  );
  paint();
  mount(`${displayName(profile)} (@${profile.handle})`, header, live, upcoming);

  try {
    const { live: liveSpaces, scheduled } = await spacesByHost(profile);
    fill(live, liveSpaces, 'No live space right now.');
    fill(upcoming, scheduled, 'Nothing scheduled.');
  } catch (err) {
    fill(live, [], errMsg(err));
    fill(upcoming, [], '');
  }
}

function errMsg(err) {
  return err && err.status === 404 ? 'Spaces are not available on this server yet.' : (err && err.message) || 'Could not load spaces.';
}

function fill(section, spaces, empty) {
  const heading = section.querySelector('h2');
  clear(section).append(heading);
  if (!spaces.length) {
    if (empty) section.append(h('p', { class: 'muted' }, empty));
    return;
  }
  section.append(h('ul', { class: 'space-list' }, spaces.map((s) => h('li', {}, spaceCard(s)))));
}

export async function followListView(params) {
  const { handle, direction } = params;
  const title = direction === 'followers' ? `People following @${handle}` : `People @${handle} follows`;
  const list = h('ul', { class: 'people-list' });
  const more = h('button', { type: 'button', class: 'btn', hidden: true }, 'Show more');
  const section = h(
    'section',
    { class: 'card' },
    h('p', {}, h('a', { href: `#/u/${encodeURIComponent(handle)}` }, `← @${handle}`)),
    h('h1', {}, title),
    list,
    more,
  );
  mount(title, section);
  let cursor = null;
  async function page() {
    more.disabled = true;
    try {
      const out = await get(`/users/${encodeURIComponent(handle)}/${direction}${qs({ cursor, limit: 50 })}`);
      const items = out.users;
      for (const u of items) {
        const user = u;
        list.append(
          h(
            'li',
            { class: 'person' },
            avatar(user, 'sm'),
            h('a', { href: `#/u/${encodeURIComponent(user.handle)}` }, displayName(user)),
            h('span', { class: 'handle' }, `@${user.handle}`),
          ),
        );
      }
      if (!list.children.length) list.append(h('li', { class: 'muted' }, 'Nobody yet.'));
      cursor = out.next_cursor || null;
      more.hidden = !cursor;
    } catch (err) {
      showError(err);
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', page);
  await page();
}

export async function settingsView() {
  const me = currentUser();
  let fresh = me;
  try {
    fresh = await get('/me');
    setUser(fresh);
  } catch (err) {
    showError(err);
  }
  const profileForm = h(
    'form',
    { class: 'card form', novalidate: true, 'aria-labelledby': 'edit-title' },
    h('h1', { id: 'edit-title' }, 'Edit profile'),
    field('Display name', h('input', { name: 'display_name', required: true, maxlength: 50, value: fresh.display_name || '' })),
    field('Bio', h('textarea', { name: 'bio', rows: 3, maxlength: 160 }, fresh.bio || ''), 'Up to 160 characters.'),
    formError(),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save'), h('a', { class: 'btn btn-ghost', href: `#/u/${encodeURIComponent(fresh.handle)}` }, 'View profile')),
  );
  bindForm(profileForm, async (data) => {
    const out = await patch('/me', { display_name: String(data.get('display_name') || ''), bio: String(data.get('bio') || '') });
    setUser(out);
    toast('Profile saved', 'success');
    announce('Profile saved');
  });

  const tokenList = h('ul', { class: 'token-list' });
  const tokenForm = h(
    'form',
    { class: 'form inline-form', novalidate: true },
    field('Token name', h('input', { name: 'name', required: true, maxlength: 50, placeholder: 'my bot' })),
    formError(),
    h('button', { type: 'submit', class: 'btn' }, 'Create token'),
  );
  const newToken = h('p', { class: 'notice token-secret', hidden: true, role: 'status' });
  bindForm(tokenForm, async (data) => {
    const out = await post('/me/tokens', { name: String(data.get('name') || '').trim() });
    newToken.hidden = false;
    clear(newToken).append('Copy this token now; it is shown only once: ', h('code', {}, out.token || ''));
    tokenForm.reset();
    await loadTokens();
  });
  async function loadTokens() {
    try {
      const out = await get('/me/tokens');
      clear(tokenList);
      for (const t of out.tokens) {
        tokenList.append(
          h(
            'li',
            { class: 'token' },
            h('span', {}, h('strong', {}, t.name || t.kind || 'token'), t.current ? ' (this browser)' : '', h('small', { class: 'muted' }, ` created ${when(t.created_at)}`)),
            t.current
              ? null
              : h(
                  'button',
                  {
                    type: 'button',
                    class: 'btn btn-small',
                    'aria-label': `Revoke token ${t.name || t.id}`,
                    onclick: async () => {
                      try {
                        await del(`/me/tokens/${t.id}`);
                        await loadTokens();
                        announce('Token revoked');
                      } catch (err) {
                        showError(err);
                      }
                    },
                  },
                  'Revoke',
                ),
          ),
        );
      }
    } catch (err) {
      showError(err);
    }
  }
  const tokens = h(
    'section',
    { class: 'card', 'aria-labelledby': 'tokens-title' },
    h('h2', { id: 'tokens-title' }, 'Sessions and API tokens'),
    h('p', { class: 'muted' }, 'Tokens let bots and scripts act as you.'),
    tokenList,
    tokenForm,
    newToken,
  );

  const deleteForm = h(
    'form',
    { class: 'form', novalidate: true },
    field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    formError(),
    h('button', { type: 'submit', class: 'btn btn-danger' }, 'Delete my account'),
  );
  bindForm(deleteForm, async (data) => {
    if (!(await confirmDialog({ title: 'Delete your account?', message: 'Your account and everything in it go. This cannot be undone.', confirm: 'Delete my account', danger: true }))) return;
    await del('/me', { password: String(data.get('password') || '') });
    setUser(null);
    go('/signup', { replace: true });
  });
  const danger = h(
    'section',
    { class: 'card', 'aria-labelledby': 'danger-title' },
    h('h2', { id: 'danger-title' }, 'Account'),
    h('button', {
      type: 'button',
      class: 'btn',
      onclick: async () => {
        try {
          await signOut();
        } catch (err) {
          showError(err);
        }
        go('/login', { replace: true });
      },
    }, 'Log out'),
    h('details', {}, h('summary', {}, 'Delete account'), deleteForm),
  );
  mount('Edit profile', profileForm, tokens, danger);
  await loadTokens();
}
